"""The base of the trainable models: named metric trackers, one optimizer step under any strategy."""

import keras

from keras_dalle.layers.replicas import as_reducible_logs, scale_loss_for_replicas


class TrainableModel(keras.Model):
    """A model with a custom `train_step` whose `optimizer` trains `main_weights`.

    Subclasses define `main_weights` and `train_step`, take an optimizer step with
    `main_update(tape, loss)` and report their metrics through `update_trackers`.

    Args:
        metric_names: names of the Mean trackers that `fit` reports.
    """

    def __init__(self, metric_names, **kwargs):
        super().__init__(**kwargs)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in metric_names}

    @classmethod
    def from_preset(cls, preset):
        """A trained model of this class: `preset` names a model shipped in the package
        (`saving.SHIPPED`: "shapes_small", "shapes_scorer") or is the path of a `.keras` file.
        ValueError when the file holds another kind of model."""
        from keras_dalle.models.saving import load_keras_file, preset_file

        return load_keras_file(preset_file(preset), expected=cls)

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def main_weights(self):
        """The weights `optimizer` trains."""
        raise NotImplementedError

    def get_compile_config(self):
        # Optimizers are set up by the training code; a loaded model serves inference
        # (call compile again to train it further; runs resume from their backups).
        return None

    @property
    def build_input_shape(self):
        """The shape of what `call` takes, which `build` records: Keras traces a `call` on it when the
        model is tracked by a SavedModel export, so it must be a real shape (None: the model's
        `call` takes any)."""
        return None

    def build_from_config(self, config):
        # Files written before `build_input_shape` existed recorded None for every model; a model
        # that knows what its `call` takes builds with that instead.
        if self.build_input_shape is None:
            super().build_from_config(config)
        else:
            self.build(self.build_input_shape)

    def build_optimizers(self):
        """Builds the model and its optimizer's slots, so a checkpoint can be restored before `fit`."""
        if not self.built:
            self.build(self.build_input_shape)
        self.optimizer.build(self.main_weights)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Under a tf.distribute strategy Keras's fit first averages a batch across replicas to build the model
        # symbolically; that fails on string captions (AddN of strings). Built models with built optimizers
        # (`build_optimizers`, which the training code calls) need no symbolic build, so skip it for them.
        if self.built and self.optimizer is not None and self.optimizer.built:
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

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
