import json
import pathlib
import unicodedata

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_dalle.text import byte_tokenizer
from keras_dalle.text.byte_tokenizer import ByteTokenizer

VECTORS = json.loads((pathlib.Path(__file__).parent / "data" / "tokenizer_vectors.json").read_text("utf-8"))


def reference_ids(prompt, max_length):
    """An independent implementation of the contract, in plain Python (what app code ports)."""
    normalized = " ".join(unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", prompt).casefold()).split())
    ids = [b + byte_tokenizer.BYTE_OFFSET for b in normalized.encode("utf-8")][:max_length]
    return ids + [byte_tokenizer.PAD_ID] * (max_length - len(ids))


def test_fixed_vectors():
    tokenizer = ByteTokenizer(max_length=VECTORS["max_length"])
    prompts = [v["prompt"] for v in VECTORS["vectors"]]
    ids = tokenizer(tf.constant(prompts)).numpy()
    assert ids.dtype == np.int32
    for vector, row in zip(VECTORS["vectors"], ids):
        assert row.tolist() == vector["ids"], vector["prompt"]
        assert reference_ids(vector["prompt"], VECTORS["max_length"]) == vector["ids"], vector["prompt"]


def test_round_trip_and_truncation():
    tokenizer = ByteTokenizer(max_length=21)
    prompts = tf.constant(["a red circle", "一个红色的圆圈", "x" * 22, "赤い円赤い円赤い円"])
    ids = tokenizer(prompts).numpy()
    assert byte_tokenizer.detokenize(ids[:2]) == ["a red circle", "一个红色的圆圈"]
    assert tokenizer.truncated(prompts).numpy().tolist() == [False, False, True, True]
    assert byte_tokenizer.detokenize(ids[3:]) == ["赤い円赤い円赤"]  # 27 bytes cut to 21
    assert (ids[2] == ord("x") + byte_tokenizer.BYTE_OFFSET).all()
    same_ids, lengths = tokenizer.ids_and_lengths(prompts)
    np.testing.assert_array_equal(same_ids, ids)
    assert lengths.numpy().tolist() == [12, 21, 22, 27] == tokenizer.byte_lengths(prompts).numpy().tolist()


def test_null_caption():
    ids = ByteTokenizer(max_length=5).null_ids(2).numpy()
    assert ids.tolist() == [[1, 0, 0, 0, 0]] * 2


def test_saved_inside_a_keras_file(tmp_path):
    prompts = keras.Input(shape=(), dtype="string")
    model = keras.Model(prompts, ByteTokenizer(max_length=12)(prompts))
    path = tmp_path / "tokenizer.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    batch = tf.constant(["A Blue Square", "ß"])
    np.testing.assert_array_equal(restored(batch), model(batch))
    layer = ByteTokenizer.from_config(ByteTokenizer(max_length=12).get_config())
    assert layer.max_length == 12


def test_bad_max_length():
    with pytest.raises(ValueError, match="max_length"):
        ByteTokenizer(max_length=1)
