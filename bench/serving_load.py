"""Load on the local server: C concurrent gRPC clients x M requests each, per server batch limit.

`python -m bench.serving_load [--model M.keras | --model-base-path BASE/NAME] [--clients 8] [--requests 10]
[--max-batch-sizes 1,16] [--poll-waits 1]`

For each batch limit and each version-poll interval (`--file-system-poll-wait-seconds`; 0 = no
polling; a list such as 0,1,0 repeats a setting to show the noise) a fresh server process serves
the SavedModel; the table gives throughput
(pictures/s), p50 / p99 latency, errors (must be 0) and the server's resident memory after warm-up,
after the load and after a second identical load (growth between the two loads would be a leak).
"""

import argparse
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from bench.memory import resident_mb
from serving.client import GrpcClient, ServingError

PROMPTS = ["a red circle", "a big blue square in the top left", "a green triangle to the left of a yellow circle", "a small purple square"]


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(base_path, max_batch_size, poll_wait_s=1.0):
    """A `python -m serving.server` process on a free port; returns (process, port) once it serves."""
    port = _free_port()
    command = [sys.executable, "-m", "serving.server", "--model-base-path", str(base_path), "--model-name", "keras_dalle",
               "--port", str(port), "--rest-port", "-1", "--max-batch-size", str(max_batch_size),
               "--file-system-poll-wait-seconds", str(poll_wait_s)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    for line in process.stdout:
        if line.startswith("gRPC on"):
            threading.Thread(target=process.stdout.read, daemon=True).start()  # keep draining its output
            return process, port
    raise RuntimeError(f"the server exited with {process.wait()}")


def run_load(port, clients, requests):
    """-> (latencies in s, error count, wall seconds) of clients x requests serving_default calls."""
    latencies, errors, lock = [], [0], threading.Lock()

    def worker(index):
        with GrpcClient(f"127.0.0.1:{port}", timeout=300) as client:
            for request in range(requests):
                start = time.perf_counter()
                try:
                    client.generate([PROMPTS[(index + request) % len(PROMPTS)]])
                except ServingError:
                    with lock:
                        errors[0] += 1
                    continue
                with lock:
                    latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0], time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a .keras model to export first (default: the shipped model)")
    parser.add_argument("--model-base-path", default=None, help="an exported BASE/NAME instead of --model")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=10, help="requests per client")
    parser.add_argument("--max-batch-sizes", default="1,16", help="server batch limits to compare, comma-separated")
    parser.add_argument("--poll-waits", default="1", help="version-poll intervals in seconds to compare (0 = off), comma-separated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = args.model_base_path
        if base is None:
            from export import saved_model
            from keras_dalle import pretrained

            base = pathlib.Path(tmp) / "keras_dalle"
            saved_model.export_saved_model(pretrained.load_model(args.model), base / "1")
        rows = []
        settings = [(int(b), float(w)) for b in args.max_batch_sizes.split(",") for w in args.poll_waits.split(",")]
        for batch_limit, poll_wait in settings:
            process, port = start_server(base, batch_limit, poll_wait)
            try:
                run_load(port, 2, 2)  # warm-up: traces and first allocations
                warm = resident_mb(process.pid)
                latencies, errors, wall = run_load(port, args.clients, args.requests)
                after_first = resident_mb(process.pid)
                _, errors_again, _ = run_load(port, args.clients, args.requests)
                after_second = resident_mb(process.pid)
            finally:
                process.terminate()
                process.wait(timeout=60)
            rows.append(dict(batch=batch_limit, poll=poll_wait, throughput=len(latencies) / wall, p50=statistics.median(latencies),
                             p99=float(np.percentile(latencies, 99)), errors=errors + errors_again,
                             warm=warm, first=after_first, second=after_second))
    print(f"{args.clients} clients x {args.requests} requests (1 picture each), serving_default, local server, {os.cpu_count()} CPUs")
    print(f"{'max batch':>9} {'poll s':>6} {'pictures/s':>11} {'x first':>7} {'p50 s':>7} {'p99 s':>7} {'errors':>6} "
          f"{'RSS warm MB':>11} {'after load 1':>12} {'after load 2':>12}")
    base_rate = rows[0]["throughput"]
    for row in rows:
        print(f"{row['batch']:9d} {row['poll']:6g} {row['throughput']:11.2f} {row['throughput'] / base_rate:7.2f} {row['p50']:7.2f} {row['p99']:7.2f} "
              f"{row['errors']:6d} {row['warm']:11.0f} {row['first']:12.0f} {row['second']:12.0f}")


if __name__ == "__main__":
    main()
