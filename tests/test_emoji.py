import json
import pathlib

import numpy as np
import pytest

from keras_dalle import cli
from keras_dalle.data import emoji, sources
from keras_dalle.evaluation.nearest import NearestPictures
from helpers.system import skip_unless


@pytest.fixture
def font():
    skip_unless(pathlib.Path(emoji.FONT_PATH).is_file(), "no emoji font (make emoji-font)")
    return emoji.FONT_PATH


def _caption_of(character):
    entries, _ = emoji.emoji_entries()
    return next(e for e in entries if e.emoji == character)


def test_captions_are_plain_cldr_names_with_an_alias_line():
    assert _caption_of("\U0001F34E").captions == ("red apple", "apple")
    waving = _caption_of("\U0001F44B\U0001F3FD")
    assert waving.captions == ("waving hand: medium skin tone",)
    assert (waving.base, waving.tones) == ("waving hand", ("medium skin tone",))
    assert _caption_of("\U0001F1EF\U0001F1F5").caption == "flag: japan"
    assert _caption_of("1\ufe0f\u20e3").caption == "keycap: 1"
    assert _caption_of("\U0001F452").captions == ("woman's hat", "womans hat")
    couple = _caption_of("\U0001F469\U0001F3FB\u200d\U0001F91D\u200d\U0001F468\U0001F3FF")
    assert couple.tones == ("light skin tone", "dark skin tone") and couple.caption.endswith(": light skin tone, dark skin tone")


def test_entries_are_many_distinct_and_in_a_fixed_order():
    entries, _ = emoji.emoji_entries()
    captions = [e.caption for e in entries]
    assert len(captions) > 3500 and len(set(captions)) == len(captions)
    assert [e.emoji for e in entries] == sorted(e.emoji for e in entries)
    assert all(c == c.lower() and c.strip() == c for e in entries for c in e.captions)


def test_one_skin_tone_of_every_emoji_with_several_is_held_out_by_seed():
    entries, _ = emoji.emoji_entries()
    held = emoji.held_out_tones(entries, seed=0)
    bases = {}
    for entry in entries:
        if entry.tones:
            bases.setdefault(entry.base, []).append(entry.emoji)
    several = {base for base, group in bases.items() if len(group) > 1}
    held_bases = [e.base for e in entries if e.emoji in held]
    assert sorted(held_bases) == sorted(several)  # exactly one per base
    assert emoji.held_out_tones(entries, seed=0) == held
    assert emoji.held_out_tones(entries, seed=1) != held


def test_the_folder_is_what_the_loader_reads_and_the_split_keeps_tones_apart(tmp_path, font):
    info = emoji.write_emoji_folder(tmp_path / "train", size=16, num=40, seed=3, held_out_dir=tmp_path / "held", progress=False)
    items, report = sources.scan_folder(tmp_path / "train", progress=False)
    assert report.used == info["pictures"] == len(items) and 35 <= len(items) <= 40  # a few may be newer than the font
    held_items, _ = sources.scan_folder(tmp_path / "held", progress=False)
    train_captions = {c[0] for _, c in items}
    assert info["held_out"] == len(held_items) and not train_captions & {c[0] for _, c in held_items}
    listed = json.loads((tmp_path / "train" / emoji.INFO_FILE).read_text(encoding="utf-8"))["entries"]
    held_listed = json.loads((tmp_path / "held" / emoji.INFO_FILE).read_text(encoding="utf-8"))["entries"]
    train_bases = {e["base"] for e in listed}
    assert all(e["tones"] and e["base"] in train_bases for e in held_listed)
    from PIL import Image

    with Image.open(items[0][0]) as first:
        picture = np.asarray(first)
    assert picture.shape == (16, 16, 3) and picture.max() > 0
    again = emoji.write_emoji_folder(tmp_path / "again", size=16, num=40, seed=3, progress=False)
    assert again["entries"] == info["entries"]
    assert all((tmp_path / "again" / e["file"]).read_bytes() == (tmp_path / "train" / e["file"]).read_bytes() for e in listed)


def test_a_machine_without_the_font_gets_one_clear_error(tmp_path, capsys):
    with pytest.raises(emoji.FontMissing, match="make emoji-font"):
        emoji.write_emoji_folder(tmp_path / "out", font_path=tmp_path / "missing.ttf", progress=False)
    assert cli.main(["data", "emoji", "--out", str(tmp_path / "out"), "--font", str(tmp_path / "missing.ttf")]) == 2
    assert "make emoji-font" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_nearest_real_picture_judges_pictures_by_their_captions():
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (30, 8, 8, 3), dtype=np.uint8)
    captions = [(f"thing {i}", f"alias {i}") for i in range(30)]
    judge = NearestPictures(real, captions)
    prompts = [c[0] for c in captions]
    assert judge.accuracy(real, prompts) == {"top1": 1.0, "top5": 1.0}
    noisy = np.clip(real.astype(int) + rng.integers(-20, 21, real.shape), 0, 255).astype(np.uint8)
    assert judge.accuracy(noisy, [c[1] for c in captions])["top1"] == 1.0  # an alias is a caption too
    shifted = prompts[1:] + prompts[:1]
    assert judge.accuracy(real, shifted)["top1"] == 0.0
    np.testing.assert_array_equal(judge.nearest(real, k=1)[:, 0], np.arange(30))
    with pytest.raises(ValueError, match="must be"):
        judge.nearest(np.zeros((1, 4, 4, 3), np.uint8))
    assert len(judge.tuning_prompts(count=10)) == 10 and set(judge.tuning_prompts(count=10)) <= set(prompts)


class _Lookup:
    """A stand-in text-to-image model that draws a given picture for each prompt (to test the judging)."""

    def __init__(self, pictures_by_prompt):
        self.pictures_by_prompt = pictures_by_prompt

    def generate(self, prompts, num_images=1, seed=0, **options):
        return np.stack([self.pictures_by_prompt[p] for p in prompts for _ in range(num_images)])


class _SecondCandidateRight:
    """Draws prompts * 2 (two candidates): the first half from `wrong`, the second from `right`."""

    def __init__(self, right, wrong):
        self.right, self.wrong = right, wrong

    def generate(self, prompts, num_images=1, seed=0, **options):
        half = len(prompts) // 2
        return np.stack([(self.wrong if i < half else self.right)[p] for i, p in enumerate(prompts) for _ in range(num_images)])


class _KnowingScorer:
    def __init__(self, right):
        self.right = right

    def score(self, pictures, prompts):
        return np.array([float(np.array_equal(picture, self.right[p])) for picture, p in zip(pictures, prompts)])


class _IndifferentScorer:
    def score(self, pictures, prompts):
        return np.zeros(len(pictures))


def test_emoji_bench_judges_pictures_that_match_their_prompts_as_right(tmp_path, font):
    from bench import emoji_quality

    emoji.write_emoji_folder(tmp_path / "train", size=16, num=60, seed=0, held_out_dir=tmp_path / "held", progress=False)
    train = NearestPictures.from_folder(tmp_path / "train", 16)
    held = NearestPictures.from_folder(tmp_path / "held", 16)
    judge = NearestPictures(np.concatenate([train.pictures, held.pictures]), train.captions + held.captions)
    own = {c[0]: p for c, p in zip(judge.captions, judge.pictures)}
    prompts = train.tuning_prompts(count=20)
    row, _ = emoji_quality.generator_row(_Lookup(own), judge, prompts, 2, 0)
    assert (row["top1"], row["top5"], row["pictures"]) == (1.0, 1.0, 40)
    shifted = dict(zip(own, np.roll(np.stack(list(own.values())), 1, axis=0)))
    assert emoji_quality.generator_row(_Lookup(shifted), judge, prompts, 1, 0)[0]["top1"] < 0.2
    entries = lambda folder: json.loads((folder / emoji.INFO_FILE).read_text(encoding="utf-8"))["entries"]  # noqa: E731
    tones = emoji_quality.tones_row(_Lookup(own), judge, entries(tmp_path / "held"), entries(tmp_path / "train"), 1, 0)
    assert tones["pictures"] == len(held.pictures) > 0 and tones["right_emoji"] == tones["right_tone"] == 1.0
    # Best of 2 where candidate 0 is always wrong and candidate 1 right: a scorer that knows picks
    # candidate 1, one that rates everything alike keeps candidate 0; the oracle is right either way.
    right_second = _SecondCandidateRight(own, shifted)
    for scorer, kept in ((_KnowingScorer(own), 1.0), (_IndifferentScorer(), 0.0)):
        row = emoji_quality.best_of_row(right_second, scorer, judge, prompts, 1, 2, 0)
        assert row["top1"] == kept and row["oracle_top1"] == 1.0 and row["candidate_0_top1"] < 0.2 and row["pictures"] == 20


class _EditByLookup:
    """A stand-in decoder whose edit at amount 0 gives back the source caption's real picture and at
    any other amount the target caption's; its variations are the pictures themselves."""

    image_size = 16

    def __init__(self, pictures_by_caption):
        self.pictures_by_caption = pictures_by_caption

    def edit(self, image, from_caption, to_caption, amount=0.3, seed=None, **settings):
        source = self.pictures_by_caption[from_caption]
        assert np.array_equal(image, source)  # the edit starts from the source caption's picture
        return np.stack([source if a == 0 else self.pictures_by_caption[to_caption] for a in amount])

    def vary(self, pictures, num_images=1, seed=None, **settings):
        return np.asarray(pictures)


def test_the_held_out_rows_tell_the_source_tone_from_the_held_out_one(tmp_path, font):
    from bench import unclip_quality

    emoji.write_emoji_folder(tmp_path / "train", size=16, num=60, seed=0, held_out_dir=tmp_path / "held", progress=False)
    pictures = {}
    for folder in ("train", "held"):
        judge = NearestPictures.from_folder(tmp_path / folder, 16)
        pictures.update({c[0]: p for c, p in zip(judge.captions, judge.pictures)})
    held_out = unclip_quality.HeldOut.from_folders(tmp_path / "train", tmp_path / "held", 16)
    row = unclip_quality.tone_edit_row(_EditByLookup(pictures), held_out, [0.3], seed=0)
    assert row["pictures"] > 0 and row["skipped_without_a_training_variant"] == 0
    assert row["amount_0"] == {"right_emoji": 1.0, "right_tone": 0.0, "both": 0.0}  # the source's own tone
    assert row["amount_0.3"] == {"right_emoji": 1.0, "right_tone": 1.0, "both": 1.0}
    held = unclip_quality.held_out_variation_row(_EditByLookup(pictures), held_out, seed=0)
    assert held["pictures"] == row["pictures"] and held["own_picture_nearest"] == held["both"] == 1.0
    assert held["pixel_distance_to_input"] == 0.0  # the stand-in copies its input
