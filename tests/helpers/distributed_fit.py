"""Runs a few train steps of the tiny models under a tf.distribute strategy; used by tests/test_distribute.py.

`python tests/helpers/distributed_fit.py mirrored OUT.npz`: in one process with two logical CPUs, trains each
model on the same global batches on one device and under MirroredStrategy (same initial weights, SGD so the
comparison is not blurred by Adam's normalisation) and saves both sets of weights.
`python tests/helpers/distributed_fit.py multi_worker OUT.npz`: one worker of a MultiWorkerMirroredStrategy
cluster (TF_CONFIG from the environment) trains the tiny image tokenizer and saves its weights.
`... mixed OUT.npz POLICY`: a few steps of both models under POLICY (mixed_bfloat16, mixed_float16); saves the logs.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import tensorflow as tf  # noqa: E402

MODE, OUT = sys.argv[1], sys.argv[2]
if MODE == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tiny  # noqa: E402  (tests/helpers/tiny.py: this script's folder is on sys.path)
from keras_dalle.data import shapes  # noqa: E402
from keras_dalle.training.distribute import make_strategy, mixed_precision_policy  # noqa: E402

SIZE = tiny.SIZE
GLOBAL_BATCH = 8
IMAGES, CAPTIONS = shapes.generate_shapes(3 * GLOBAL_BATCH, seed=0, canvas_size=SIZE)


def dataset():
    return tf.data.Dataset.from_tensor_slices((CAPTIONS, IMAGES)).batch(GLOBAL_BATCH, drop_remainder=True)


def tokenizer_model(dead_code_steps=200):
    return tiny.tokenizer(dead_code_steps=dead_code_steps)


def dalle_model(tokenizer):
    # Deterministic steps: no caption dropout, no Transformer dropout, no discriminator (its Gumbel noise is random).
    return tiny.dalle(tokenizer, caption_dropout=0.0, dropout=0.0, adversarial_weight=0.0)


def fit(model, optimizer=lambda: keras.optimizers.SGD(0.1), steps=3):
    model.compile(optimizer=optimizer(), d_optimizer=optimizer())
    model.build_optimizers()
    history = model.fit(dataset(), epochs=1, steps_per_epoch=steps, verbose=0)
    return history.history


def weights(model):
    return {f"{i:03d}": np.asarray(w.numpy(), np.float64) for i, w in enumerate(model.weights)}  # by position: names differ


def trainable_keys(model):
    """The `weights` keys of the weights an optimizer updates (the frozen tokenizer inside a KerasDALLE is not)."""
    trainable = {id(w) for w in model.trainable_weights}
    return np.array([f"{i:03d}" for i, w in enumerate(model.weights) if id(w) in trainable])


keras.config.disable_traceback_filtering()
keras.utils.set_random_seed(0)
if MODE == "mirrored":
    single_tokenizer = tokenizer_model(dead_code_steps=1)  # codes unused for one step restart: exercised too
    start = single_tokenizer.get_weights()
    results = {f"tokenizer/initial/{k}": v for k, v in weights(single_tokenizer).items()}
    results["tokenizer/trainable"] = trainable_keys(single_tokenizer)
    strategy = make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
    with strategy.scope():
        mirrored_tokenizer = tokenizer_model(dead_code_steps=1)
        mirrored_tokenizer.set_weights(start)
    for name, model in (("single", single_tokenizer), ("mirrored", mirrored_tokenizer)):
        scope = strategy.scope() if name == "mirrored" else tf.distribute.get_strategy().scope()
        with scope:
            fit(model)
        results.update({f"tokenizer/{name}/{k}": v for k, v in weights(model).items()})
    trained_tokenizer = single_tokenizer
    single_dalle = dalle_model(trained_tokenizer)
    single_dalle.build(None)
    dalle_start = single_dalle.get_weights()
    results.update({f"dalle/initial/{k}": v for k, v in weights(single_dalle).items()})
    results["dalle/trainable"] = trainable_keys(single_dalle)
    with strategy.scope():
        mirrored_dalle = dalle_model(trained_tokenizer)
        mirrored_dalle.build(None)
        mirrored_dalle.set_weights(dalle_start)
        fit(mirrored_dalle)
    fit(single_dalle)
    results.update({f"dalle/single/{k}": v for k, v in weights(single_dalle).items()})
    results.update({f"dalle/mirrored/{k}": v for k, v in weights(mirrored_dalle).items()})
    np.savez(OUT, **results)
elif MODE == "multi_worker":
    strategy = make_strategy("multi_worker")
    with strategy.scope():
        model = tokenizer_model()
        history = fit(model, optimizer=lambda: keras.optimizers.Adam(1e-3))
    np.savez(OUT, loss=np.array(history["loss"]), **{k: v for k, v in weights(model).items()})
elif MODE == "mixed":
    print(mixed_precision_policy(True, sys.argv[3]))
    tokenizer = tokenizer_model()
    tokenizer_history = fit(tokenizer, optimizer=lambda: keras.optimizers.Adam(1e-3), steps=3)
    dalle = tiny.dalle(tokenizer)  # with the discriminator
    dalle_history = fit(dalle, optimizer=lambda: keras.optimizers.Adam(1e-3), steps=3)
    np.savez(OUT, **{f"tokenizer/{k}": np.array(v) for k, v in tokenizer_history.items()},
             **{f"dalle/{k}": np.array(v) for k, v in dalle_history.items()},
             compute_dtype=np.array(tokenizer.encoder.compute_dtype), quantizer_dtype=np.array(tokenizer.quantizer.compute_dtype),
             optimizer=np.array(type(dalle.optimizer).__name__), d_optimizer=np.array(type(dalle.d_optimizer).__name__))
else:
    raise SystemExit(f"unknown mode {MODE}")
