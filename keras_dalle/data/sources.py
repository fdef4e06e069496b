"""Where captioned images come from: folders with sidecar captions or caption manifests, and the
built-in shapes source; scanning them with a `LoadReport` of what is used and what is skipped.

Accepted sources (a folder in every case):
1. A tree of images (png, jpg, jpeg, webp, bmp), each with a same-stem `.txt` caption file;
   each non-empty line is one caption, and one is drawn each time the image is used.
2. A folder with `captions.jsonl` (`{"image": relative path, "caption": str or [str]}` per
   line) or `captions.csv` (header `image,caption`; repeated images collect captions).
3. TFRecord shards written by `loader.pack_folder` (`keras-dalle data pack`), read streaming.
4. The name `shapes` (when no such folder exists): the built-in shapes dataset, generated
   endlessly while training, so no picture repeats (`SHAPES_SOURCE`).

Nothing is dropped silently: unreadable images are skipped and counted, an image without a
caption is an error naming it (or skipped and counted with `skip_uncaptioned=True`), and a
`LoadReport` tells how many items were found, used and skipped, and why.
"""

import collections
import csv
import dataclasses
import io
import json
import pathlib

from PIL import Image

from keras_dalle.progress import progress_bar


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
SHAPES_SOURCE = "shapes"
_SHOWN_FILES = 5


class DataError(ValueError):
    """Input data that cannot be used as given; the message names the path."""


@dataclasses.dataclass
class LoadReport:
    """How many items a source held, how many are used, and what was skipped and why."""

    source: str
    found: int = 0
    skipped: dict = dataclasses.field(default_factory=lambda: collections.defaultdict(list))
    endless: bool = False
    validation: int = 0  # of the used items, held out for validation

    def skip(self, reason, path):
        self.skipped[reason].append(str(path))

    @property
    def training(self):
        """Items used for training: the used ones less those held out for validation."""
        return self.used - self.validation

    @property
    def used(self):
        return self.found - sum(len(paths) for paths in self.skipped.values())

    def summary(self):
        if self.endless:
            return f"{self.source}: endless, a new picture for every sample"
        held_out = f" ({self.validation} held out for validation)" if self.validation else ""
        lines = [f"{self.source}: found {self.found}, used {self.used}{held_out}, skipped {self.found - self.used}"]
        for reason, paths in sorted(self.skipped.items()):
            shown = ", ".join(paths[:_SHOWN_FILES]) + (" ..." if len(paths) > _SHOWN_FILES else "")
            lines.append(f"  skipped {len(paths)} ({reason}): {shown}")
        return "\n".join(lines)


def read_text(path):
    """A file's text as UTF-8; DataError naming the file otherwise."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None


def read_prompts(path):
    """The non-empty lines of a prompts file (one prompt per line); DataError naming the file when
    it is missing, not UTF-8, or holds no prompts."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    prompts = [line.strip() for line in read_text(path).splitlines() if line.strip()]
    if not prompts:
        raise DataError(f"{path}: no prompts (one per line)")
    return prompts


def _caption_lines(text):
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _items_from_sidecars(root, skip_uncaptioned, report):
    items = []
    images = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    report.found = len(images)
    for image_path in images:
        caption_path = image_path.with_suffix(".txt")
        captions = _caption_lines(read_text(caption_path)) if caption_path.is_file() else ()
        if not captions:
            why = "has no caption file" if not caption_path.is_file() else "has an empty caption file"
            if not skip_uncaptioned:
                raise DataError(
                    f"{image_path} {why} {caption_path.name} (pass --skip-uncaptioned / "
                    "skip_uncaptioned=True to skip such images)"
                )
            report.skip("no caption", image_path)
            continue
        items.append((image_path, captions))
    return items


def _manifest_rows(path):
    if path.name.endswith(".jsonl"):
        for number, line in enumerate(read_text(path).splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                yield number, row["image"], row.get("caption")
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise DataError(f"{path}:{number}: expected {{\"image\": ..., \"caption\": ...}} ({err})") from None
    else:
        reader = csv.DictReader(io.StringIO(read_text(path)))
        if reader.fieldnames is None or not {"image", "caption"} <= set(reader.fieldnames):
            raise DataError(f"{path}: the header must name the columns 'image' and 'caption'")
        for number, row in enumerate(reader, 2):
            yield number, row["image"], row["caption"]


def _items_from_manifest(root, manifest, skip_uncaptioned, report):
    captions = collections.OrderedDict()
    for number, image, caption in _manifest_rows(manifest):
        texts = [caption] if isinstance(caption, str) else list(caption or [])
        if not all(isinstance(t, str) for t in texts):
            raise DataError(f"{manifest}:{number}: caption must be a string or a list of strings")
        captions.setdefault(root / image, []).extend(t.strip() for t in texts if t and t.strip())
    report.found = len(captions)
    items = []
    for image_path, texts in captions.items():
        if not image_path.is_file():
            report.skip("image file missing", image_path)
        elif not texts:
            if not skip_uncaptioned:
                raise DataError(f"{manifest}: image {image_path} has no caption (pass --skip-uncaptioned to skip it)")
            report.skip("no caption", image_path)
        else:
            items.append((image_path, tuple(texts)))
    return items


def _verify_images(items, report, progress):
    usable = []
    for image_path, captions in progress_bar(items, desc="checking images", unit="img", disable=not progress):
        try:
            with Image.open(image_path) as image:
                image.verify()
        except Exception:  # PIL raises many types for broken files; each is a skip, counted
            report.skip("unreadable image", image_path)
            continue
        usable.append((image_path, captions))
    return usable


def scan_folder(path, skip_uncaptioned=False, progress=True):
    """Finds captioned images in a folder (sidecar .txt files, captions.jsonl or captions.csv).

    Returns (list of (image path, tuple of captions), LoadReport). Image files are opened and
    verified here, so unreadable ones are skipped and reported before training starts.
    """
    root = pathlib.Path(path)
    if not root.exists():
        raise DataError(f"{root}: no such file or directory")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (give the folder that holds the images)")
    report = LoadReport(str(root))
    manifests = [root / name for name in ("captions.jsonl", "captions.csv") if (root / name).is_file()]
    if manifests:
        items = _items_from_manifest(root, manifests[0], skip_uncaptioned, report)
    else:
        items = _items_from_sidecars(root, skip_uncaptioned, report)
    if report.found == 0:
        raise DataError(
            f"{root}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)} files with .txt captions, "
            "captions.jsonl, captions.csv, or packed TFRecord shards)"
        )
    items = _verify_images(items, report, progress)
    if not items:
        raise DataError(f"{root}: none of the {report.found} images is usable\n{report.summary()}")
    return items, report


def is_builtin_shapes(path):
    """Whether `path` names the built-in endless shapes source (and no folder of that name exists)."""
    return str(path) == SHAPES_SOURCE and not pathlib.Path(path).exists()
