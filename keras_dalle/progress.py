"""Progress bars for long work (writing, packing, scanning, evaluating)."""

from tqdm import tqdm


def progress_bar(iterable=None, **kwargs):
    """A tqdm bar on stderr; pass `disable=True` to silence it."""
    return tqdm(iterable, dynamic_ncols=True, **kwargs)
