"""tf.distribute helpers for the custom train steps."""

import tensorflow as tf


def scale_loss_for_replicas(loss):
    """Divides a per-replica mean loss (or its gradient) by the replica count, so the summed
    gradients are the gradient of the global-batch mean (what Keras does for built-in losses)."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / replicas if replicas > 1 else loss
