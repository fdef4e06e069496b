"""The base of the two adversarially trained models (a discriminator with its own optimizer and step),
and the straight-through Gumbel-softmax that carries the adversarial gradient to token logits."""

import functools

import keras
import tensorflow as tf
from keras import ops

from keras_dalle.layers.replicas import scale_loss_for_replicas
from keras_dalle.models.trainable import TrainableModel


def straight_through_gumbel_softmax(logits, temperature, seed_generator):
    """One-hot samples [..., K] whose gradient is that of the Gumbel-softmax relaxation."""
    uniform = keras.random.uniform(ops.shape(logits), minval=1e-6, maxval=1.0 - 1e-6, seed=seed_generator)
    soft = ops.softmax((logits - ops.log(-ops.log(uniform))) / temperature, axis=-1)
    hard = ops.one_hot(ops.argmax(soft, axis=-1), ops.shape(logits)[-1], dtype=soft.dtype)
    return hard + soft - ops.stop_gradient(soft)


class AdversarialModel(TrainableModel):
    """A `TrainableModel` whose `d_optimizer` also trains `discriminator`.

    Subclasses set `self.discriminator` (None trains without one) and `self.adversarial_start`,
    define `main_weights` and `train_step(data, adversarial)`, and report their metrics through
    `update_trackers`. Before `adversarial_start` the compiled step has no discriminator work
    at all (no fake pictures, no discriminator update).

    Args:
        metric_names: names of the Mean trackers that `fit` reports.
    """

    def compile(self, optimizer="adam", d_optimizer=None, **kwargs):
        """`optimizer` updates `main_weights`; `d_optimizer` the discriminator."""
        super().compile(optimizer=optimizer, **kwargs)  # wraps `optimizer` in a LossScaleOptimizer under mixed_float16
        self.d_optimizer = None
        if self.discriminator is not None:
            self.d_optimizer = keras.optimizers.get(d_optimizer or "adam")
            if self.dtype_policy.name == "mixed_float16" and not isinstance(self.d_optimizer, keras.optimizers.LossScaleOptimizer):
                self.d_optimizer = keras.optimizers.LossScaleOptimizer(self.d_optimizer)

    def build_optimizers(self):
        """Builds the model and both optimizers' slots, so a checkpoint can be restored before `fit`."""
        super().build_optimizers()
        if self.d_optimizer is not None:
            self.d_optimizer.build(self.discriminator.trainable_weights)

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
