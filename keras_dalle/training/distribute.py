"""tf.distribute for training: strategies by name, the chief, mixed precision.

The helpers the train steps themselves use across replicas (loss scaling, reductions) live below
the models, in `keras_dalle.layers.replicas`.
"""

import keras
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def make_strategy(name="default"):
    """A tf.distribute strategy by name.

    - default: one device (the first GPU if any, else the CPU).
    - mirrored: all local GPUs (or the CPU), variables mirrored, gradients all-reduced.
    - multi_worker: MultiWorkerMirroredStrategy; the cluster and this worker's role come from TF_CONFIG.
    - tpu: TPUStrategy on the TPU the environment provides (documented, not testable here).
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")


def is_chief(strategy):
    """True for the worker that writes checkpoints, models, logs and pictures (every single-machine run)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()


def mixed_precision_policy(enabled, name=None):
    """Sets Keras's global dtype policy: mixed_float16 on a GPU (with loss scaling in the train steps),
    mixed_bfloat16 elsewhere (CPU, TPU), float32 when off; `name` forces one. Call before building models.

    Returns the policy name.
    """
    if name is None:
        name = "float32"
        if enabled:
            name = "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    keras.mixed_precision.set_global_policy(name)
    return name
