"""What train steps need under tf.distribute: per-replica loss scaling, reductions, reducible logs.

Below the models (which use them) and free of strategy construction (`keras_dalle.training.distribute`).
"""

import tensorflow as tf


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
