import json

import numpy as np
import pytest
from PIL import Image

from keras_dalle.data import loader, shapes, sources
from keras_dalle.data.images import resize_and_center_crop


def _write_sidecar_folder(root, num=6, seed=0):
    shapes.write_shapes_folder(root, num, seed=seed, progress=False)
    return root


def _collect(dataset):
    captions, images = [], []
    for caption, image in dataset:
        captions += [c.decode() for c in caption.numpy()]
        images.append(image.numpy())
    return captions, np.concatenate(images)


def test_sidecar_folder_round_trip(tmp_path):
    root = _write_sidecar_folder(tmp_path / "data", num=10)
    dataset, report = loader.load_dataset(root, image_size=32, batch_size=4, shuffle=False, progress=False)
    captions, images = _collect(dataset)
    expected_images, expected_captions = shapes.generate_shapes(10, seed=0)
    assert captions == expected_captions
    np.testing.assert_array_equal(images, expected_images)
    assert (report.found, report.used) == (10, 10)


def test_shuffle_follows_the_seed(tmp_path):
    root = _write_sidecar_folder(tmp_path / "data", num=12)
    first = _collect(loader.load_dataset(root, batch_size=5, seed=7, progress=False)[0])[0]
    again = _collect(loader.load_dataset(root, batch_size=5, seed=7, progress=False)[0])[0]
    other = _collect(loader.load_dataset(root, batch_size=5, seed=8, progress=False)[0])[0]
    assert first == again and sorted(first) == sorted(other) and first != other


def test_several_captions_are_all_drawn(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    Image.new("RGB", (40, 20), (255, 0, 0)).save(root / "one.jpg")
    (root / "one.txt").write_text("first caption\n\nsecond caption\n", encoding="utf-8")
    dataset, _ = loader.load_dataset(root, image_size=16, batch_size=1, repeat=True, progress=False)
    seen = {c.numpy()[0].decode() for c, _ in dataset.take(40)}
    assert seen == {"first caption", "second caption"}


def test_corrupt_images_are_skipped_and_counted(tmp_path):
    root = _write_sidecar_folder(tmp_path / "data", num=4)
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (root / "broken.txt").write_text("a red circle", encoding="utf-8")
    dataset, report = loader.load_dataset(root, batch_size=8, progress=False)
    captions, _ = _collect(dataset)
    assert len(captions) == 4
    assert (report.found, report.used) == (5, 4)
    assert report.skipped["unreadable image"] == [str(root / "broken.png")]
    assert "broken.png" in report.summary()


def test_a_folder_dataset_knows_its_batches_and_a_picture_that_fails_to_decode_gives_its_slot_to_the_next(
    tmp_path, monkeypatch
):
    root = _write_sidecar_folder(tmp_path / "data", num=5)
    bad = str(root / "000002.png")
    real_load = loader.load_image

    def load_image(path, size):
        if path == bad:
            raise OSError("truncated file")
        return real_load(path, size)

    monkeypatch.setattr(loader, "load_image", load_image)
    dataset, report = loader.load_dataset(root, image_size=32, batch_size=2, shuffle=False, progress=False)
    assert int(dataset.cardinality()) == 3  # Keras's progress bar knows the epoch's batches
    captions, images = _collect(dataset)
    expected_images, expected_captions = shapes.generate_shapes(5, seed=0)
    assert captions == [*expected_captions[:2], expected_captions[3], *expected_captions[3:]]
    np.testing.assert_array_equal(images[2], expected_images[3])
    assert report.skipped["failed to decode"] == [bad]


def test_uncaptioned_image_is_an_error_or_skipped(tmp_path):
    root = _write_sidecar_folder(tmp_path / "data", num=3)
    Image.new("RGB", (8, 8)).save(root / "lonely.png")
    with pytest.raises(sources.DataError, match="lonely.png"):
        sources.scan_folder(root, progress=False)
    items, report = sources.scan_folder(root, skip_uncaptioned=True, progress=False)
    assert len(items) == 3 and report.skipped["no caption"] == [str(root / "lonely.png")]


@pytest.mark.parametrize(
    "setup,message",
    [
        (lambda root: None, "no such file"),
        (lambda root: root.mkdir(), "no images found"),
        (lambda root: (root.mkdir(), (root / "a.txt").write_text("x")), "no images found"),
    ],
)
def test_bad_folders_raise_clear_errors(tmp_path, setup, message):
    root = tmp_path / "data"
    setup(root)
    with pytest.raises(sources.DataError, match=message):
        loader.load_dataset(root, progress=False)


def test_non_utf8_caption_names_the_file(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    Image.new("RGB", (8, 8)).save(root / "a.png")
    (root / "a.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(sources.DataError, match=r"a\.txt: not UTF-8"):
        sources.scan_folder(root, progress=False)


def test_jsonl_and_csv_manifests(tmp_path):
    root = tmp_path / "data"
    (root / "imgs").mkdir(parents=True)
    for name, color in (("a.png", (255, 0, 0)), ("b.png", (0, 255, 0))):
        Image.new("RGB", (8, 8), color).save(root / "imgs" / name)
    lines = [{"image": "imgs/a.png", "caption": "red"}, {"image": "imgs/b.png", "caption": ["green", "lime"]}]
    (root / "captions.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    items, report = sources.scan_folder(root, progress=False)
    assert [(p.name, c) for p, c in items] == [("a.png", ("red",)), ("b.png", ("green", "lime"))]
    (root / "captions.jsonl").unlink()
    (root / "captions.csv").write_text(
        "image,caption\nimgs/a.png,red\nimgs/b.png,green\nimgs/b.png,lime\nimgs/gone.png,x\n", encoding="utf-8"
    )
    items, report = sources.scan_folder(root, progress=False)
    assert [(p.name, c) for p, c in items] == [("a.png", ("red",)), ("b.png", ("green", "lime"))]
    assert report.skipped["image file missing"] == [str(root / "imgs" / "gone.png")]
    (root / "captions.csv").write_text("file,text\nimgs/a.png,red\n", encoding="utf-8")
    with pytest.raises(sources.DataError, match="header"):
        sources.scan_folder(root, progress=False)


def test_color_modes_resize_and_center_crop():
    gray = Image.fromarray(np.tile(np.arange(60, dtype=np.uint8), (30, 1)))  # 60 wide, 30 high
    out = resize_and_center_crop(gray, 10)
    assert out.shape == (10, 10, 3) and out.dtype == np.uint8
    assert (out[..., 0] == out[..., 1]).all()
    rgba = Image.new("RGBA", (8, 8), (200, 100, 50, 0))  # fully transparent: composited onto black
    assert resize_and_center_crop(rgba, 8).max() == 0
    palette = Image.new("P", (8, 8))
    palette.putpalette([10, 20, 30] * 256)
    assert tuple(resize_and_center_crop(palette, 8)[0, 0]) == (10, 20, 30)
    # The center crop keeps the middle: a wide image with a red middle third stays red.
    wide = np.zeros((10, 30, 3), np.uint8)
    wide[:, 10:20] = (255, 0, 0)
    assert (resize_and_center_crop(Image.fromarray(wide), 10) == (255, 0, 0)).all()


def test_pack_then_stream(tmp_path):
    root = _write_sidecar_folder(tmp_path / "data", num=9)
    (root / "broken.png").write_bytes(b"garbage")
    (root / "broken.txt").write_text("a red circle", encoding="utf-8")
    report = loader.pack_folder(root, tmp_path / "packed", shards=3, progress=False)
    assert (report.found, report.used) == (10, 9)
    assert len(list((tmp_path / "packed").glob("*.tfrecord"))) == 3
    dataset, streamed = loader.load_dataset(tmp_path / "packed", image_size=32, batch_size=4, progress=False)
    captions, images = _collect(dataset)
    expected_images, expected_captions = shapes.generate_shapes(9, seed=0)
    assert sorted(captions) == sorted(expected_captions)
    assert sorted(map(bytes, images)) == sorted(map(bytes, expected_images))  # same pixels, exactly
    assert (streamed.found, streamed.used) == (10, 9)
    assert streamed.skipped["unreadable image"] == [str(root / "broken.png")]


@pytest.mark.parametrize("packed", [False, True])
def test_validation_split_gives_disjoint_subsets_that_cover_the_data(tmp_path, packed):
    root = _write_sidecar_folder(tmp_path / "data", num=40)
    if packed:
        loader.pack_folder(root, tmp_path / "packed", shards=2, progress=False)
        root = tmp_path / "packed"
    split = dict(image_size=32, batch_size=8, shuffle=False, progress=False, validation_split=0.25)
    training, report = loader.load_dataset(root, subset="training", **split)
    validation, _ = loader.load_dataset(root, subset="validation", **split)
    train_images, held_images = _collect(training)[1], _collect(validation)[1]
    assert len(train_images) + len(held_images) == 40 and 0 < len(held_images) < 40
    train_bytes, held_bytes = {i.tobytes() for i in train_images}, {i.tobytes() for i in held_images}
    assert not train_bytes & held_bytes
    if not packed:
        assert report.validation == 10 and report.training == 30 and "10 held out for validation" in report.summary()
    with pytest.raises(ValueError, match="subset"):
        loader.load_dataset(root, validation_split=0.25, progress=False)
    with pytest.raises(ValueError, match="needs no validation split"):
        loader.load_dataset("shapes", validation_split=0.1, subset="training")


def test_two_object_fraction_is_for_the_built_in_shapes_only(tmp_path):
    from keras_dalle.data import grammar

    dataset, report = loader.load_dataset("shapes", image_size=16, batch_size=4, two_object_fraction=1.0, progress=False)
    assert "100% two-object" in report.summary()
    captions = next(iter(dataset))[0].numpy()
    assert all(grammar.parse_caption(c.decode()).relation is not None for c in captions)
    with pytest.raises(ValueError, match="built-in"):
        loader.load_dataset(str(tmp_path), two_object_fraction=0.5, progress=False)
