"""Per-thread switches that change how graphs traced inside a `with` block are built (the full-int8
TFLite export turns them on while it traces)."""

import contextlib
import threading


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
