"""Merging concurrent requests for one signature into batches, as TF Serving's `--enable_batching` does."""

import concurrent.futures
import queue
import re
import threading
import time

import grpc
import numpy as np
import tensorflow as tf

from serving.status import ServingError


class Batcher:
    """Merges concurrent requests for one signature into batches and hands each caller its own rows.

    A merged batch that fails (one caller's bad input) is rerun request by request, so the error
    reaches only the caller who caused it.
    """

    def __init__(self, function, limits):
        self.function = function
        self.limits = limits
        self.requests = queue.Queue()
        self._stopping = threading.Lock()
        self._stopped = False
        self._held_over = None  # a request that did not fit the last batch: the next one starts with it
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def submit(self, inputs):
        """inputs: {name: np.ndarray with rows first} -> {name: np.ndarray} (blocks until done)."""
        future = concurrent.futures.Future()
        with self._stopping:
            if self._stopped:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, "the model version was unloaded; send again")
            self.requests.put((inputs, future))
        return future.result()

    def stop(self):
        """Ends the batching thread after the requests queued before this call; later ones get UNAVAILABLE."""
        with self._stopping:
            if self._stopped:
                return
            self._stopped = True
            self.requests.put(None)
        self.thread.join()

    def _next_batch(self):
        first, self._held_over = self._held_over or self.requests.get(), None
        if first is None:
            return None
        batch, rows = [first], _rows(first[0])
        deadline = time.monotonic() + self.limits.batch_timeout_s
        while rows < self.limits.max_batch_size:
            try:
                item = self.requests.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                self.requests.put(None)
                break
            if rows + _rows(item[0]) > self.limits.max_batch_size:
                self._held_over = item
                break
            batch.append(item)
            rows += _rows(item[0])
        return batch

    def _run(self):
        while (batch := self._next_batch()) is not None:
            try:
                merged = {name: np.concatenate([inputs[name] for inputs, _ in batch]) for name in batch[0][0]}
                outputs = self._call(merged)
            except ServingError as err:
                if len(batch) == 1:
                    batch[0][1].set_exception(err)
                else:  # rerun one by one, so only the caller whose rows fail gets the error
                    for inputs, future in batch:
                        _settle(future, self._call, inputs)
                continue
            except Exception as err:  # noqa: BLE001  (the batching thread must outlive any one bad batch)
                for _, future in batch:
                    future.set_exception(ServingError(grpc.StatusCode.INTERNAL, f"{type(err).__name__}: {err}"))
                continue
            start = 0
            for inputs, future in batch:
                stop = start + _rows(inputs)
                future.set_result({name: value[start:stop] for name, value in outputs.items()})
                start = stop

    def _call(self, inputs):
        try:
            outputs = self.function(**{name: tf.constant(value) for name, value in inputs.items()})
        except tf.errors.InvalidArgumentError as err:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, _tf_message(err)) from None
        except tf.errors.OpError as err:
            raise ServingError(grpc.StatusCode.INTERNAL, _tf_message(err)) from None
        except Exception as err:  # noqa: BLE001  (e.g. TF failing to decode its own error text)
            raise ServingError(grpc.StatusCode.INTERNAL, f"{type(err).__name__}: {err}") from None
        return {name: value.numpy() for name, value in outputs.items()}


def _rows(inputs):
    return len(next(iter(inputs.values())))


def _settle(future, call, inputs):
    try:
        future.set_result(call(inputs))
    except ServingError as err:
        future.set_exception(err)


def _tf_message(err):
    """The informative line of a TF error ("assertion failed: [...] ..."), without the graph-node decoration."""
    lines = [re.sub(r"\s*\[\[\{\{node.*", "", line).strip() for line in err.message.splitlines()]
    lines = [line for line in lines if line and line != "Graph execution error:"]
    asserted = [line for line in lines if line.startswith("assertion failed")]
    return (asserted or lines or ["(no message)"])[-1]


