"""tf.distribute for the custom train steps: strategies by name, the chief, loss scaling, mixed precision."""

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


def in_multi_worker_mode(strategy=None):
    """True when `strategy` (default: the current one) spans several worker processes."""
    resolver = getattr(strategy or tf.distribute.get_strategy(), "cluster_resolver", None)
    if resolver is None:
        return False
    jobs = resolver.cluster_spec().as_dict()
    return sum(len(jobs.get(job, [])) for job in ("chief", "worker")) > 1


def as_reducible_logs(logs):
    """Train-step logs that Keras can average across workers.

    Keras 3's fit reduces per-step logs with `strategy.reduce("MEAN", value, axis=0)` under a multi-worker
    strategy, which fails on scalars (tensorflow/tensorflow#72388); shape [1] reduces to the scalar mean.
    """
    if not in_multi_worker_mode():
        return logs
    return {name: tf.reshape(value, [1]) for name, value in logs.items()}


def scale_loss_for_replicas(loss):
    """Divides a per-replica mean loss (or its gradient) by the replica count, so the summed
    gradients are the gradient of the global-batch mean (what Keras does for built-in losses)."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas == 1:
        return loss
    if isinstance(loss, tf.IndexedSlices):  # sparse gradients of embedding lookups
        return tf.IndexedSlices(loss.values / replicas, loss.indices, loss.dense_shape)
    return loss / replicas


def _replica_context():
    """The replica context when several replicas run in sync, else None."""
    context = tf.distribute.get_replica_context()
    return context if context is not None and context.num_replicas_in_sync > 1 else None


def sum_over_replicas(value):
    """`value` summed over all replicas of the global batch (itself with one replica)."""
    context = _replica_context()
    return context.all_reduce("sum", value) if context else value


def concat_over_replicas(value):
    """`value` [n, ...] of every replica concatenated along axis 0 (itself with one replica)."""
    context = _replica_context()
    return context.all_gather(value, axis=0) if context else value


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
