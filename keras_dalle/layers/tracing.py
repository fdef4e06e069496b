"""How the library's graphs are traced: `tf_function` (no AutoGraph) for the functions Python callers
run compiled, and per-thread switches that change how graphs traced inside a `with` block are built
(the full-int8 TFLite export turns them on while it traces)."""

import contextlib
import threading

import tensorflow as tf


def tf_function(function, **options):
    """`tf.function(function, autograph=False, **options)`. The library's traced code writes its loops
    and branches as TensorFlow ops (`tf.while_loop`, `tf.cond`), so AutoGraph has nothing to convert,
    yet converting every function a call reaches cost 2.3 of the 9 s the shipped model's first
    `generate` took (2026-12-05, a busy machine). AutoGraph also reads a function's source file
    when it traces it, so a long run that traces late (a training's closing sampling step) could
    fail on a checkout edited meanwhile; without it nothing is read."""
    return tf.function(function, autograph=False, **options)


class TracingSwitch:
    """Off unless the current thread is inside `with switch.on():` (blocks may nest)."""

    def __init__(self):
        self._local = threading.local()

    @property
    def active(self):
        return getattr(self._local, "active", False)

    @contextlib.contextmanager
    def on(self):
        previous = self.active
        self._local.active = True
        try:
            yield
        finally:
            self._local.active = previous
