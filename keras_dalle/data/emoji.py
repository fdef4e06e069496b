"""The built-in real-picture source: every emoji of the Noto Color Emoji font as a folder of
PNG pictures with `.txt` captions, the same form a user's folder has (`keras-dalle data emoji`).

- Pictures: Pillow renders the font's color bitmaps (its one bitmap strike is 109 px), the glyph
  is cropped to its box, centered on a square, composited over black and resized with LANCZOS
  (antialiased) to `size`. Emoji the font does not draw as one glyph (newer than the font) are
  skipped and counted.
- Captions: the emoji's English CLDR name from the `emoji` package, lower case ("red apple",
  "waving hand: medium skin tone", "flag: japan", "keycap: 1"), and, where the package has a
  different alias, that alias as a second caption line.
- Held-out split: for every emoji with skin-tone variants, one seeded variant is left out of the
  training folder ("waving hand: dark skin tone" when waving hands in four other tones and dark
  skin on other emoji are in training); `held_out_dir` writes those pictures apart.
- `emoji.json` in each folder lists every picture's file, emoji, caption, base name and tones.

The font comes from Debian's `fonts-noto-color-emoji` package (`make emoji-font`); its license is
SIL OFL 1.1 and the artwork's Apache 2.0.

Example:
    >>> entries, skipped = emoji_entries()
    >>> entries[0].caption
"""

import dataclasses
import json
import pathlib

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from keras_dalle.data.sources import DataError
from keras_dalle.progress import progress_bar

FONT_PATH = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
FONT_INSTALL = "make emoji-font (Debian's fonts-noto-color-emoji package)"
# The font's only bitmap strike; Pillow draws CBDT color glyphs at this size alone.
_STRIKE = 109
# A sequence the font draws as one glyph advances one strike width (136 px); wider is several glyphs.
_MAX_SINGLE_ADVANCE = 140
SKIN_TONES = {
    "\U0001F3FB": "light skin tone",
    "\U0001F3FC": "medium-light skin tone",
    "\U0001F3FD": "medium skin tone",
    "\U0001F3FE": "medium-dark skin tone",
    "\U0001F3FF": "dark skin tone",
}
_REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)
_TAG_CHARACTERS = range(0xE0020, 0xE0080)
INFO_FILE = "emoji.json"
LICENSE = "Noto Color Emoji: font SIL OFL 1.1, artwork Apache 2.0"


class FontMissing(DataError):
    """The emoji font is not installed."""


@dataclasses.dataclass(frozen=True)
class EmojiEntry:
    """One emoji: its characters, caption lines, base name (without skin tones) and tones."""

    emoji: str
    captions: tuple  # the CLDR name first, then an alias if the package has a different one
    base: str
    tones: tuple  # of SKIN_TONES values, in the order the sequence holds them

    @property
    def caption(self):
        return self.captions[0]

    @property
    def file_stem(self):
        """`emoji_u1f44b_1f3fd`: the code points, as the Noto sources name their pictures."""
        return "emoji_u" + "_".join(f"{ord(c):x}" for c in self.emoji if c != "\ufe0f")


def _plain(name):
    """`:waving_hand:` -> `waving hand` (lower case, spaces, the apostrophe people type: "woman's hat")."""
    return name.strip(":").replace("_", " ").replace("\u2019", "'").lower()


def _entry(character, data):
    text = _plain(data["en"])
    tones = tuple(SKIN_TONES[c] for c in character if c in SKIN_TONES)
    if len(set(tones)) == 1:  # CLDR names a tone shared by all the people once: "kiss: woman, man, dark skin tone"
        tones = tones[:1]
    base = text  # the name without its tones, wherever the package put them ("man light skin tone red hair")
    for tone in tones:  # " dark skin tone" is not inside "medium-dark skin tone": the space marks a word
        base = base.replace(f" {tone}", "")
    if tones:
        name = f"{base}: {', '.join(tones)}"
    elif all(ord(c) in _REGIONAL_INDICATORS for c in character) or any(ord(c) in _TAG_CHARACTERS for c in character):
        name = f"flag: {text}"
    elif text.startswith("keycap "):
        name = f"keycap: {text[len('keycap '):]}"
    else:
        name = text
    comparable = {name.replace(":", "").replace(",", ""), text}
    aliases = [_plain(a) for a in data.get("alias", ())]
    alias = next((a for a in aliases if a not in comparable and a.replace("flag for ", "") != text), None)
    return EmojiEntry(character, (name, alias) if alias else (name,), base, tones)


def emoji_entries():
    """(entries, skipped): every fully qualified emoji of the `emoji` package as an `EmojiEntry`,
    ordered by their characters, and the names whose caption another emoji already has (skipped)."""
    import emoji

    fully_qualified = emoji.STATUS["fully_qualified"]
    entries, seen, skipped = [], set(), []
    for character in sorted(emoji.EMOJI_DATA):
        data = emoji.EMOJI_DATA[character]
        if data["status"] != fully_qualified:
            continue
        entry = _entry(character, data)
        if entry.caption in seen:
            skipped.append(entry.caption)
            continue
        seen.add(entry.caption)
        entries.append(entry)
    return entries, skipped


def load_font(path=FONT_PATH):
    """The emoji font at its bitmap size; `FontMissing` (naming the make target) when absent."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FontMissing(f"{path}: the Noto Color Emoji font is not installed; install it with {FONT_INSTALL}")
    try:
        return ImageFont.truetype(str(path), _STRIKE)
    except OSError as err:
        raise FontMissing(f"{path}: not a font Pillow can read at size {_STRIKE} ({err})") from None


def render_emoji(character, font, size):
    """The emoji as uint8 [size, size, 3] over black, or None where the font draws it as several
    glyphs or not at all."""
    if font.getlength(character) > _MAX_SINGLE_ADVANCE:
        return None
    canvas = Image.new("RGBA", (2 * _STRIKE, 2 * _STRIKE), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((0, 0), character, font=font, embedded_color=True)
    box = canvas.getbbox()
    if box is None:
        return None
    glyph = canvas.crop(box)
    side = max(glyph.size)
    square = Image.new("RGBA", (side, side), (0, 0, 0, 255))
    square.alpha_composite(glyph, ((side - glyph.size[0]) // 2, (side - glyph.size[1]) // 2))
    return np.asarray(square.convert("RGB").resize((size, size), Image.LANCZOS))


def held_out_tones(entries, seed=0):
    """The set of emoji held out of training: one seeded skin-tone variant of every base that has
    several (bases in order, so the split depends on the seed and the emoji list alone)."""
    variants = {}
    for entry in entries:
        if entry.tones:
            variants.setdefault(entry.base, []).append(entry.emoji)
    rng = np.random.default_rng([seed, 11])
    return {group[rng.integers(len(group))] for _, group in sorted(variants.items()) if len(group) > 1}


def _write(entries, out, size, font, progress, desc):
    out.mkdir(parents=True, exist_ok=True)
    written, not_drawn = [], []
    for entry in progress_bar(entries, desc=desc, unit="img", disable=not progress):
        picture = render_emoji(entry.emoji, font, size)
        if picture is None:
            not_drawn.append(entry.caption)
            continue
        Image.fromarray(picture).save(out / f"{entry.file_stem}.png")
        (out / f"{entry.file_stem}.txt").write_text("\n".join(entry.captions) + "\n", encoding="utf-8")
        written.append({"file": f"{entry.file_stem}.png", "emoji": entry.emoji, "caption": entry.caption,
                        "base": entry.base, "tones": list(entry.tones)})
    return written, not_drawn


def write_emoji_folder(out_dir, size=32, num=None, seed=0, held_out_dir=None, font_path=None, progress=True):
    """Writes the emoji as `emoji_u<code points>.png` with same-stem `.txt` captions into `out_dir`.

    `num` keeps a seeded choice of that many training emoji (all by default); the skin-tone
    variants `held_out_tones(seed)` picks never enter `out_dir` and go to `held_out_dir` when given
    (those of the kept emoji's bases). `font_path` defaults to `FONT_PATH`. Returns a dict of counts, also written to `out_dir/emoji.json`.
    """
    if size < 8:
        raise ValueError(f"size must be at least 8, got {size}")
    if num is not None and num < 1:
        raise ValueError(f"num must be at least 1, got {num}")
    font = load_font(font_path or FONT_PATH)
    entries, duplicates = emoji_entries()
    held = held_out_tones(entries, seed)
    training = [e for e in entries if e.emoji not in held]
    if num is not None and num < len(training):
        keep = set(np.random.default_rng([seed, 12]).choice(len(training), num, replace=False).tolist())
        training = [e for i, e in enumerate(training) if i in keep]
    bases = {e.base for e in training}
    held_out = [e for e in entries if e.emoji in held and e.base in bases]
    out = pathlib.Path(out_dir)
    pictures, not_drawn = _write(training, out, size, font, progress, "writing emoji")
    info = {
        "source": "Noto Color Emoji", "license": LICENSE, "size": size, "seed": seed, "num": num,
        "pictures": len(pictures), "held_out": len(held_out),
        "skipped": {"not one glyph in this font": not_drawn, "caption of another emoji": duplicates},
        "entries": pictures,
    }
    if held_out_dir is not None:
        held_pictures, held_not_drawn = _write(held_out, pathlib.Path(held_out_dir), size, font, progress, "writing held-out")
        info["held_out"] = len(held_pictures)
        info["skipped"]["held out, not one glyph in this font"] = held_not_drawn
        held_info = {key: info[key] for key in ("source", "license", "size", "seed")}
        held_info.update(pictures=len(held_pictures), training_folder=str(out), entries=held_pictures)
        pathlib.Path(held_out_dir, INFO_FILE).write_text(json.dumps(held_info, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / INFO_FILE).write_text(json.dumps(info, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return info
