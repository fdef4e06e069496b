"""Judging generated pictures by their nearest real picture: for folders whose captions name what
a picture shows (an emoji's name, a product's name), a generated picture draws its prompt when the
real picture nearest to it (pixel distance after a slight blur, over every picture of the folder)
carries that prompt as one of its captions.

No pretrained features: the distance is computed on the pictures themselves, so the measure works
offline on any folder, and a tokenizer's reconstructions are judged the same way (a reconstruction
should be nearest to its own picture).

Example:
    >>> judge = NearestPictures.from_folder("my_pictures/", image_size=32)
    >>> judge.accuracy(model.generate(prompts, num_images=1), prompts)
    {'top1': 0.81, 'top5': 0.96}
"""

import numpy as np

from keras_dalle.data.images import load_image
from keras_dalle.data.sources import scan_folder

# Tuning prompts drawn from a folder's captions for the per-epoch picture-level accuracy.
TUNING_PROMPTS = 200
TUNING_SEED = 78


def _blurred(pictures):
    """uint8 [B, S, S, 3] -> float32 [B, S * S * 3] after a 3 x 3 binomial blur (edges repeated)."""
    x = np.asarray(pictures, np.float32) / 255.0
    for axis in (1, 2):
        padded = np.concatenate([np.take(x, [0], axis), x, np.take(x, [-1], axis)], axis)
        size = x.shape[axis]
        x = (np.take(padded, range(0, size), axis) + 2 * np.take(padded, range(1, size + 1), axis)
             + np.take(padded, range(2, size + 2), axis)) / 4.0
    return x.reshape(len(x), -1)


class NearestPictures:
    """The real pictures of a dataset and their captions, to find the nearest ones to new pictures.

    Args:
        pictures: uint8 [M, S, S, 3], the real pictures.
        captions: M tuples of caption strings, the captions each picture carries.
    """

    def __init__(self, pictures, captions):
        if len(pictures) != len(captions) or not len(pictures):
            raise ValueError(f"give one tuple of captions per picture (got {len(pictures)} pictures, {len(captions)} captions)")
        self.pictures = np.asarray(pictures)
        self.captions = [tuple(c) for c in captions]
        self._features = _blurred(self.pictures)
        self._norms = np.sum(self._features**2, axis=1)
        self._by_caption = {}
        for index, texts in enumerate(self.captions):
            for text in texts:
                self._by_caption.setdefault(text, set()).add(index)

    @classmethod
    def from_folder(cls, path, image_size, progress=False):
        """Every usable picture of a folder (any form `scan_folder` reads) at `image_size`, with its captions."""
        items, _ = scan_folder(path, progress=progress)
        return cls(np.stack([load_image(p, image_size) for p, _ in items]), [c for _, c in items])

    @property
    def image_size(self):
        return self.pictures.shape[1]

    def nearest(self, pictures, k=5, batch=256):
        """Indices [B, k] of the real pictures nearest to each of `pictures` (uint8 [B, S, S, 3]), nearest first."""
        pictures = np.asarray(pictures)
        if pictures.shape[1:] != self.pictures.shape[1:]:
            raise ValueError(f"pictures must be {self.pictures.shape[1:]}, got {pictures.shape[1:]}")
        k = min(k, len(self.pictures))
        result = []
        for start in range(0, len(pictures), batch):
            features = _blurred(pictures[start : start + batch])
            distances = self._norms[None] - 2.0 * features @ self._features.T  # (b, M), less a per-row constant
            top = np.argpartition(distances, k - 1, axis=1)[:, :k]
            order = np.take_along_axis(distances, top, 1).argsort(axis=1, kind="stable")
            result.append(np.take_along_axis(top, order, 1))
        return np.concatenate(result)

    def hits(self, pictures, prompts, k=5):
        """Bool [B, k]: whether the i-th nearest real picture of each picture carries its prompt."""
        if len(pictures) != len(prompts):
            raise ValueError(f"one prompt per picture: {len(pictures)} pictures, {len(prompts)} prompts")
        nearest = self.nearest(pictures, k)
        return np.array([[index in self._by_caption.get(prompt, ()) for index in row] for row, prompt in zip(nearest, prompts)])

    def accuracy(self, pictures, prompts, k=5):
        """{"top1", "top<k>"}: the fraction of pictures whose nearest (or one of the k nearest) real
        pictures carries its prompt."""
        hits = self.hits(pictures, prompts, k)
        return {"top1": float(hits[:, 0].mean()), f"top{k}": float(hits.any(axis=1).mean())}

    def variations_of(self, decoder, indices, seed=0, batch=32, progress=False, **sampling):
        """One variation (`decoder.vary`, `sampling`: its settings, the same `seed` for each batch) of
        each of the pictures at `indices`: uint8 [len(indices), S, S, 3]."""
        from keras_dalle.progress import progress_bar

        indices = np.asarray(indices)
        varied = []
        with progress_bar(total=len(indices), desc="variations", unit="pic", disable=not progress) as bar:
            for start in range(0, len(indices), batch):
                chunk = self.pictures[indices[start : start + batch]]
                varied.append(decoder.vary(chunk, num_images=1, seed=seed, **sampling))  # [b, S, S, 3]
                bar.update(len(chunk))
        return np.concatenate(varied)

    def own_picture_accuracy(self, varied, indices):
        """How often each of `varied` (pictures drawn from the pictures at `indices`) is nearest its own
        picture: {"own_picture_nearest", "own_picture_in_top5", "nearest_carries_its_caption",
        "pixel_distance_to_input" (mean absolute, 0-255: 0 for copies), "pictures"}."""
        indices = np.asarray(indices)
        nearest = self.nearest(varied, k=5)  # [N, 5]
        same_caption = [bool(set(self.captions[n]) & set(self.captions[i])) for n, i in zip(nearest[:, 0], indices)]
        return {
            "own_picture_nearest": float(np.mean(nearest[:, 0] == indices)),
            "own_picture_in_top5": float(np.mean([i in row for row, i in zip(nearest, indices)])),
            "nearest_carries_its_caption": float(np.mean(same_caption)),
            "pixel_distance_to_input": float(np.mean(np.abs(np.asarray(varied, np.float32) - self.pictures[indices]))),
            "pictures": len(indices),
        }

    def variation_accuracy(self, decoder, indices, seed=0, batch=32, progress=False, **sampling):
        """`own_picture_accuracy` of one variation of each of the pictures at `indices` (`variations_of`)."""
        return self.own_picture_accuracy(self.variations_of(decoder, indices, seed, batch, progress, **sampling), indices)

    def tuning_prompts(self, count=TUNING_PROMPTS, seed=TUNING_SEED):
        """A seeded choice of up to `count` distinct first captions: the per-epoch tuning set."""
        return tuning_prompts(self.captions, count, seed)


def tuning_prompts(captions, count=TUNING_PROMPTS, seed=TUNING_SEED):
    """A seeded choice of up to `count` distinct first captions of `captions` (tuples of caption lines)."""
    firsts = sorted({texts[0] for texts in captions})
    rng = np.random.default_rng(seed)
    return [firsts[i] for i in sorted(rng.choice(len(firsts), min(count, len(firsts)), replace=False))]
