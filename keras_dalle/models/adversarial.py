"""The base of the two adversarially trained models: two optimizers, metric trackers, a discriminator step."""

import functools

import keras
import tensorflow as tf

from keras_dalle.layers.replicas import as_reducible_logs, scale_loss_for_replicas


class AdversarialModel(keras.Model):
    """A model whose `optimizer` trains `main_weights` and whose `d_optimizer` trains `discriminator`.

    Subclasses set `self.discriminator` (None trains without one) and `self.adversarial_start`,
    define `main_weights` and `train_step(data, adversarial)`, and report their metrics through
    `update_trackers`. Before `adversarial_start` the compiled step has no discriminator work
    at all (no fake pictures, no discriminator update).

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
        super().compile(optimizer=optimizer, **kwargs)  # wraps `optimizer` in a LossScaleOptimizer under mixed_float16
        self.d_optimizer = None
        if self.discriminator is not None:
            self.d_optimizer = keras.optimizers.get(d_optimizer or "adam")
            if self.dtype_policy.name == "mixed_float16" and not isinstance(self.d_optimizer, keras.optimizers.LossScaleOptimizer):
                self.d_optimizer = keras.optimizers.LossScaleOptimizer(self.d_optimizer)

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

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Under a tf.distribute strategy Keras's fit first averages a batch across replicas to build the model
        # symbolically; that fails on string captions (AddN of strings). Built models with built optimizers
        # (`build_optimizers`, which the training code calls) need no symbolic build, so skip it for them.
        if self.built and self.optimizer is not None and self.optimizer.built:
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def make_train_function(self, force=False):
        """`fit`'s train function: with a discriminator, two compiled steps, `train_step(data, adversarial=False)`
        before `adversarial_start` and `adversarial=True` from then on, picked at each call by the
        optimizer's step count (with `steps_per_execution` > 1 the switch comes at the first call past the start)."""
        if self.train_function is not None and not force:
            return self.train_function
        if self.discriminator is None:
            self.train_function = self._make_function(functools.partial(self.train_step, adversarial=False))
            return self.train_function
        warmup = self._make_function(functools.partial(self.train_step, adversarial=False))
        adversarial = self._make_function(functools.partial(self.train_step, adversarial=True))

        def train_function(iterator):
            live = int(self.optimizer.iterations.numpy()) >= self.adversarial_start
            return (adversarial if live else warmup)(iterator)

        self.train_function = train_function
        return train_function

    def discriminator_update(self, loss_fn):
        """One `d_optimizer` step on `loss_fn()`; returns the loss."""
        with tf.GradientTape() as tape:
            loss = loss_fn()
            scaled = self.d_optimizer.scale_loss(scale_loss_for_replicas(loss))  # loss scaling: mixed_float16
        weights = self._weights_to_train(self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        return loss

    def main_update(self, tape, loss):
        """One `optimizer` step on `loss`, recorded by `tape` (gradients scaled as the loss would be)."""
        with tape:  # the loss scale (mixed_float16; 1 otherwise) is part of the recorded graph
            scaled = self.optimizer.scale_loss(loss)
        weights = self._weights_to_train(self.main_weights)
        gradients = [scale_loss_for_replicas(g) for g in tape.gradient(scaled, weights)]
        self.optimizer.apply_gradients(zip(gradients, weights))

    def _weights_to_train(self, weights):
        if not weights:
            raise ValueError(
                f"{self.name} has nothing to train: its weights are frozen (a KerasDALLE freezes the image tokenizer it "
                "wraps; train the tokenizer before wrapping it, or set trainable=True)"
            )
        return weights

    def update_trackers(self, values):
        """Feeds {name: value} to the trackers; returns {name: running mean} for those names."""
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return as_reducible_logs({name: self.trackers[name].result() for name in values})
