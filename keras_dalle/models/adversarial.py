"""The base of the two adversarially trained models: two optimizers, metric trackers, a discriminator step."""

import keras
import tensorflow as tf

from keras_dalle.training.distribute import scale_loss_for_replicas


class AdversarialModel(keras.Model):
    """A model whose `optimizer` trains `main_weights` and whose `d_optimizer` trains `discriminator`.

    Subclasses set `self.discriminator` (None trains without one), define `main_weights`, and
    report their metrics through `update_trackers`.

    Args:
        metric_names: names of the Mean trackers that `fit` reports.
    """

    def __init__(self, metric_names, **kwargs):
        super().__init__(**kwargs)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in metric_names}

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def main_weights(self):
        """The weights `optimizer` trains (everything but the discriminator)."""
        raise NotImplementedError

    def compile(self, optimizer="adam", d_optimizer=None, **kwargs):
        """`optimizer` updates `main_weights`; `d_optimizer` the discriminator."""
        super().compile(optimizer=optimizer, **kwargs)
        self.d_optimizer = keras.optimizers.get(d_optimizer or "adam") if self.discriminator is not None else None

    def get_compile_config(self):
        # Two optimizers are set up by the training code; a loaded model serves inference
        # (call compile again to train it further; runs resume from their backups).
        return None

    def build_optimizers(self):
        """Builds the model and both optimizers' slots, so a checkpoint can be restored before `fit`."""
        if not self.built:
            self.build(None)
        self.optimizer.build(self.main_weights)
        if self.d_optimizer is not None:
            self.d_optimizer.build(self.discriminator.trainable_weights)

    def discriminator_update(self, loss_fn, enabled):
        """One `d_optimizer` step on `loss_fn()` (scaled by `enabled`, 0 or 1); returns the unscaled loss."""
        with tf.GradientTape() as tape:
            loss = loss_fn()
            scaled = scale_loss_for_replicas(enabled * loss)
        weights = self.discriminator.trainable_weights
        self.d_optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        return loss

    def main_update(self, tape, loss):
        """One `optimizer` step on `loss`, recorded by `tape` (gradients scaled as the loss would be)."""
        weights = self.main_weights
        gradients = [scale_loss_for_replicas(g) for g in tape.gradient(loss, weights)]
        self.optimizer.apply_gradients(zip(gradients, weights))

    def update_trackers(self, values):
        """Feeds {name: value} to the trackers; returns {name: running mean} for those names."""
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in values}
