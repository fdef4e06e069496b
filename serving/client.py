"""A client for TF Serving (and the local server) over gRPC or REST.

`python -m serving.client --server localhost:8500 --model keras_dalle "a red circle" --out out.png
[--signature generate --temperature T --top-k K --top-p P --cfg-scale C --seed S] [--candidates N]
[--image IN.png --keep-rows R]
[--prompts FILE --out DIR] [--rest http://localhost:8501]`

Python users:

    from serving.client import GrpcClient
    with GrpcClient("localhost:8500", "keras_dalle") as client:
        pngs = client.generate(["a red circle"], seed=0)          # list of PNG bytes
        best = client.generate_best(["a red circle"], 8, seed=0)  # [(PNG bytes, score)], best of 8
        done = client.complete(["a red circle"], open("in.png", "rb").read(), keep_rows=4, seed=0)  # completion
        outputs = client.predict({"prompt": ["a red circle"]})   # raw outputs as numpy arrays

Every call has a deadline; UNAVAILABLE (server starting or restarting) is retried with
exponential backoff; other errors raise `ServingError` with the server's status and message.
"""

import argparse
import base64
import json
import pathlib
import random
import sys
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import tensorflow as tf
import tqdm
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

from keras_dalle.data.sources import read_prompts
from keras_dalle.sampling import SEED_DTYPE, SETTING_DTYPES
from serving.status import ServingError, code_of_http_status



def _first_seed(seed):
    """The seed of a request's first row: `seed`, or a random one when it is None."""
    return random.randrange(2**31) if seed is None else seed


def _candidates_column(candidates, rows):
    """The `candidates` input of a reranking signature: int32 [rows]; ValueError unless an int >= 1."""
    if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates < 1:
        raise ValueError(f"candidates must be a positive int, got {candidates!r}")
    return np.full(rows, candidates, np.int32)


def generation_inputs(prompts, signature="serving_default", seed=None, defaults=None, **settings):
    """Named input arrays for a generation signature: `serving_default` takes prompts only,
    `generate` per-row settings (missing ones from `defaults`, the model's; row i gets seed + i)."""
    prompts = [p.encode("utf-8") if isinstance(p, str) else p for p in prompts]
    if signature == "serving_default":
        given = {name for name, value in settings.items() if value is not None} | ({"seed"} if seed is not None else set())
        if given:
            raise ValueError(f"serving_default takes prompts only; use signature 'generate' for {sorted(given)}")
        return {"prompt": np.array(prompts, dtype=object)}
    rows = len(prompts)
    first_seed = _first_seed(seed)
    # The values of settings a caller leaves out come from the served model's `sampling_defaults` signature.
    known = set(SETTING_DTYPES)
    unknown = set(settings) - known
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(known)} and seed")
    values = {**(defaults or {}), **{name: value for name, value in settings.items() if value is not None}}
    missing = known - set(values)
    if missing:
        raise ValueError(f"no value for {sorted(missing)}: give them or the model's defaults")
    inputs = {name: np.full(rows, value, SETTING_DTYPES[name]) for name, value in values.items()}
    inputs["seed"] = np.arange(first_seed, first_seed + rows, dtype=SEED_DTYPE)
    inputs["prompt"] = np.array(prompts, dtype=object)
    return inputs


def _wait_before_retry(attempt):
    """Exponential backoff before retry `attempt` + 1: 0.5 s, 1 s, 2 s, ..."""
    time.sleep(0.5 * 2**attempt)


class _Client:
    """What both transports share: generation and the model's sampling defaults on top of `predict`."""

    _defaults = None

    def sampling_defaults(self):
        """The served model's default settings {temperature, top_k, top_p, cfg_scale} (asked once)."""
        if self._defaults is None:
            outputs = self.predict({"prompt": np.array([b"defaults"], dtype=object)}, "sampling_defaults")
            self._defaults = {name: value[0].item() for name, value in outputs.items()}
        return self._defaults

    def generate(self, prompts, signature="serving_default", seed=None, **settings):
        """PNG bytes, one per prompt; `generate` settings left out take the model's defaults."""
        defaults = self.sampling_defaults() if signature == "generate" else None
        outputs = self.predict(generation_inputs(prompts, signature, seed, defaults, **settings), signature, ["image_bytes"])
        return list(outputs["image_bytes"])

    def generate_best(self, prompts, candidates, seed=None, **settings):
        """(PNG bytes, score) per prompt from the `generate_best` signature (a SavedModel exported with
        a scorer): each prompt's best of `candidates` pictures by the scorer, in one Predict call.
        Candidate 0 is what `generate` makes with the same seed; settings left out take the model's defaults."""
        inputs = generation_inputs(prompts, "generate", seed, self.sampling_defaults(), **settings)
        inputs["candidates"] = _candidates_column(candidates, len(prompts))
        outputs = self.predict(inputs, "generate_best", ["image_bytes", "score"])
        return [(png, float(score)) for png, score in zip(outputs["image_bytes"], outputs["score"])]

    def complete(self, prompts, image, keep_rows, seed=None, **settings):
        """PNG bytes per prompt from the `complete` signature (image completion): each picture keeps
        the top `keep_rows` rows of its picture's token grid and the model draws the rest under its
        prompt. `image`: encoded picture bytes (PNG, JPEG, ...; any size) for every prompt, or a list
        of them, one per prompt. Settings left out take the model's defaults."""
        images = [image] * len(prompts) if isinstance(image, bytes) else list(image)
        if len(images) != len(prompts) or not all(isinstance(i, bytes) for i in images):
            raise ValueError(f"image must be encoded picture bytes, or a list of them, one per prompt ({len(prompts)})")
        if isinstance(keep_rows, bool) or not isinstance(keep_rows, int) or keep_rows < 1:
            raise ValueError(f"keep_rows must be a positive int, got {keep_rows!r}")
        inputs = generation_inputs(prompts, "generate", seed, self.sampling_defaults(), **settings)
        inputs.update(image_bytes=np.array(images, dtype=object), keep_rows=np.full(len(prompts), keep_rows, np.int32))
        return list(self.predict(inputs, "complete", ["image_bytes"])["image_bytes"])

    def _embedding_inputs(self, images, seeds, settings):
        """Inputs of the unCLIP decoder's signatures: image_bytes, per-row settings (the model's
        defaults for those left out) and `seeds`, one per row."""
        if not all(isinstance(i, bytes) for i in images):
            raise ValueError("images must be encoded picture bytes (PNG, JPEG, ...)")
        inputs = generation_inputs([b""] * len(images), "generate", 0, self.sampling_defaults(), **settings)
        del inputs["prompt"]
        inputs.update(image_bytes=np.array(images, dtype=object), seed=np.asarray(seeds, SEED_DTYPE))
        return inputs

    def _drawn(self, inputs, signature, candidates):
        """PNG bytes from `signature`, or with candidates > 1 from its reranking twin `SIGNATURE_best`
        (each row the best of `candidates`)."""
        column = _candidates_column(candidates, len(inputs["seed"]))
        if candidates > 1:
            inputs["candidates"] = column
            signature += "_best"
        return list(self.predict(inputs, signature, ["image_bytes"])["image_bytes"])

    def vary(self, image, num_images=4, seed=None, candidates=1, **settings):
        """PNG bytes of `num_images` variations of one encoded picture (the `vary` signature of an
        unCLIP decoder's SavedModel); variation i uses seed + i. `candidates` > 1: each the best of
        that many by nearness to the picture's embedding (`vary_best`)."""
        first = _first_seed(seed)
        inputs = self._embedding_inputs([image] * num_images, np.arange(first, first + num_images), settings)
        return self._drawn(inputs, "vary", candidates)

    def edit(self, image, from_caption, to_caption, amounts=(0.1, 0.2, 0.3, 0.4, 0.5), seed=None, candidates=1, **settings):
        """PNG bytes per amount (the `edit` signature): one encoded picture turned from `from_caption`
        toward `to_caption`, every amount drawn with the same seed; `candidates` as `vary`'s (`edit_best`)."""
        amounts = list(amounts)
        first = _first_seed(seed)
        inputs = self._embedding_inputs([image] * len(amounts), np.full(len(amounts), first), settings)
        inputs.update(
            from_caption=np.array([from_caption.encode("utf-8")] * len(amounts), dtype=object),
            to_caption=np.array([to_caption.encode("utf-8")] * len(amounts), dtype=object),
            amount=np.asarray(amounts, np.float32),
        )
        return self._drawn(inputs, "edit", candidates)

    def interpolate(self, image, other_image, steps=5, seed=None, **settings):
        """PNG bytes of `steps` pictures from one encoded picture's embedding to another's (the
        `interpolate` signature), every step drawn with the same seed."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ValueError(f"steps must be an int >= 2, got {steps!r}")
        first = _first_seed(seed)
        inputs = self._embedding_inputs([image] * steps, np.full(steps, first), settings)
        inputs.update(other_image_bytes=np.array([other_image] * steps, dtype=object), theta=np.linspace(0, 1, steps, dtype=np.float32))
        return list(self.predict(inputs, "interpolate", ["image_bytes"])["image_bytes"])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class GrpcClient(_Client):
    """TF Serving's gRPC API with `PredictionServiceStub`, exactly as against tensorflow_model_server.

    Args:
        target: host:port of the gRPC server.
        model: the served model name.
        timeout: deadline of every call, in seconds.
        retries: how many times UNAVAILABLE is retried (backoff 0.5 s, 1 s, 2 s, ...).
    """

    def __init__(self, target, model="keras_dalle", timeout=120.0, retries=4):
        self.model = model
        self.timeout = timeout
        self.retries = retries
        self.channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)

    def _call(self, method, request):
        for attempt in range(self.retries + 1):
            try:
                return method(request, timeout=self.timeout)
            except grpc.RpcError as err:
                if err.code() == grpc.StatusCode.UNAVAILABLE and attempt < self.retries:
                    _wait_before_retry(attempt)
                    continue
                if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise ServingError("DEADLINE_EXCEEDED", f"no answer within the {self.timeout:g} s deadline") from None
                raise ServingError(err.code().name, err.details()) from None

    def signatures(self):
        """{signature: {"inputs": {name: dtype}, "outputs": {name: dtype}}} from GetModelMetadata."""
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        request.model_spec.name = self.model
        response = self._call(self.stub.GetModelMetadata, request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        describe = lambda infos: {name: types_pb2.DataType.Name(info.dtype)[3:].lower() for name, info in infos.items()}  # noqa: E731
        return {
            key: {"inputs": describe(sig.inputs), "outputs": describe(sig.outputs)}
            for key, sig in signature_map.signature_def.items()
            if not key.startswith("__")  # __saved_model_init_op and other internals
        }

    def predict(self, inputs, signature="serving_default", output_filter=()):
        """inputs {name: array-like} -> outputs {name: np.ndarray} (only `output_filter`'s names when given)."""
        request = predict_pb2.PredictRequest(output_filter=list(output_filter))
        request.model_spec.name = self.model
        request.model_spec.signature_name = signature
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        response = self._call(self.stub.Predict, request)
        return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}

    def close(self):
        self.channel.close()


class RestClient(_Client):
    """TF Serving's REST API (`:predict` with "instances", `/metadata`); image_bytes come base64."""

    def __init__(self, base_url, model="keras_dalle", timeout=120.0, retries=4):
        self.url = f"{base_url.rstrip('/')}/v1/models/{model}"
        self.timeout = timeout
        self.retries = retries

    def _call(self, url, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        for attempt in range(self.retries + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as err:
                try:
                    message = json.loads(err.read()).get("error", err.reason)
                except json.JSONDecodeError:
                    message = err.reason
                if err.code == 503 and attempt < self.retries:
                    _wait_before_retry(attempt)
                    continue
                raise ServingError(code_of_http_status(err.code), message) from None
            except (urllib.error.URLError, ConnectionError) as err:
                if attempt < self.retries:
                    _wait_before_retry(attempt)
                    continue
                raise ServingError("UNAVAILABLE", f"{url}: {getattr(err, 'reason', err)}") from None
            except TimeoutError:
                raise ServingError("DEADLINE_EXCEEDED", f"no answer within the {self.timeout:g} s deadline") from None

    def signatures(self):
        """Same shape as `GrpcClient.signatures`, from the REST metadata endpoint."""
        signature_defs = self._call(f"{self.url}/metadata")["metadata"]["signature_def"]["signatureDef"]
        describe = lambda infos: {name: info["dtype"][3:].lower() for name, info in infos.items()}  # noqa: E731
        return {
            key: {"inputs": describe(s.get("inputs", {})), "outputs": describe(s.get("outputs", {}))}
            for key, s in signature_defs.items()
            if not key.startswith("__")
        }

    def predict(self, inputs, signature="serving_default", output_filter=()):
        """inputs {name: array-like} -> outputs {name: np.ndarray} (strings as bytes).

        TF Serving's REST API has no output filter: `output_filter` only drops outputs here.
        """
        columns = {name: _json_column(value) for name, value in inputs.items()}
        rows = len(next(iter(columns.values())))
        instances = [{name: column[row] for name, column in columns.items()} for row in range(rows)]
        predictions = self._call(f"{self.url}:predict", {"signature_name": signature, "instances": instances})["predictions"]
        names = list(predictions[0]) if isinstance(predictions[0], dict) else None
        if names is None:
            raise ServingError("INTERNAL", "expected named outputs from a multi-output signature")
        return {name: _from_json([row[name] for row in predictions]) for name in names if not output_filter or name in output_filter}

    def close(self):
        pass


def _json_column(value):
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind == "S":
        return [{"b64": base64.b64encode(item).decode()} for item in array.reshape(-1)]
    return array.tolist()


def _from_json(values):
    if values and isinstance(values[0], dict) and "b64" in values[0]:
        return np.array([base64.b64decode(item["b64"]) for item in values], dtype=object)
    if values and isinstance(values[0], str):
        return np.array([item.encode() for item in values], dtype=object)
    return np.array(values)


def main(argv=None, prog=None):
    parser = argparse.ArgumentParser(prog=prog, description="Generate pictures with a served keras_dalle model (gRPC or REST).")
    parser.add_argument("prompt", nargs="?", help="one prompt (or use --prompts FILE)")
    parser.add_argument("--prompts", help="a file with one prompt per line; --out is then a folder")
    parser.add_argument("--out", required=True, help="PNG file for one prompt, folder for --prompts")
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument("--server", default="localhost:8500", help="gRPC host:port (default localhost:8500)")
    transport.add_argument("--rest", help="REST base URL instead of gRPC, e.g. http://localhost:8501")
    parser.add_argument("--model", default="keras_dalle")
    parser.add_argument("--signature", choices=("serving_default", "generate"), default=None,
                        help="default: generate when a setting is given, else serving_default")
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--top-k", type=int)
    parser.add_argument("--top-p", type=float)
    parser.add_argument("--cfg-scale", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--candidates", type=int, default=1,
                        help="keep the best of N pictures by the served scorer (signature generate_best; "
                             "needs a SavedModel exported with --scorer)")
    parser.add_argument("--image", help="image completion (signature complete): a picture whose top rows the pictures keep")
    parser.add_argument("--keep-rows", type=int, default=None, help="with --image: token-grid rows kept from the top")
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per request with --prompts")
    parser.add_argument("--timeout", type=float, default=120.0, help="deadline per call in seconds")
    args = parser.parse_args(argv)
    if (args.prompt is None) == (args.prompts is None):
        parser.error("give one prompt or --prompts FILE")
    settings = dict(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, cfg_scale=args.cfg_scale)
    if args.prompts and args.seed is None and args.signature != "serving_default":
        # Picture i of a prompts file uses seed + i, drawn here when not given, so manifest.jsonl can
        # make any of them again (serving_default takes no seed: its manifest has none).
        args.seed = random.randrange(2**31)
    signature = args.signature or ("generate" if any(v is not None for v in (*settings.values(), args.seed)) else "serving_default")
    if args.candidates < 1:
        parser.error(f"--candidates must be at least 1, got {args.candidates}")
    if args.candidates > 1 and args.signature is not None:
        parser.error("--candidates uses the generate_best signature; leave out --signature")
    if (args.image is None) != (args.keep_rows is None):
        parser.error("image completion needs both --image and --keep-rows")
    if args.image is not None and (args.candidates > 1 or args.signature is not None):
        parser.error("--image uses the complete signature; leave out --candidates and --signature")
    client = RestClient(args.rest, args.model, args.timeout) if args.rest else GrpcClient(args.server, args.model, args.timeout)

    def pictures(prompts, seed):
        """PNG bytes and their scores (None without --candidates) for a list of prompts."""
        if args.candidates > 1:
            return list(zip(*client.generate_best(prompts, args.candidates, seed, **settings)))
        if args.image is not None:
            image = pathlib.Path(args.image).read_bytes()
            return client.complete(prompts, image, args.keep_rows, seed, **settings), [None] * len(prompts)
        return client.generate(prompts, signature, seed, **settings), [None] * len(prompts)

    try:
        prompts = read_prompts(args.prompts) if args.prompts else [args.prompt]
        if args.prompts:
            out_dir = pathlib.Path(args.out)
            out_dir.mkdir(parents=True, exist_ok=True)
            with tqdm.tqdm(total=len(prompts), desc="generating", unit="picture", dynamic_ncols=True) as bar, \
                    open(out_dir / "manifest.jsonl", "w", encoding="utf-8") as manifest:
                for start in range(0, len(prompts), args.batch_size):
                    chunk = prompts[start : start + args.batch_size]
                    pngs, scores = pictures(chunk, None if args.seed is None else args.seed + start)
                    for offset, (png, score) in enumerate(zip(pngs, scores)):
                        name = f"{start + offset:04d}.png"
                        (out_dir / name).write_bytes(png)
                        entry = {"prompt": chunk[offset], "file": name, "seed": None if args.seed is None else args.seed + start + offset}
                        if args.image is not None:
                            entry.update(image=args.image, keep_rows=args.keep_rows)
                        if score is not None:
                            entry["score"] = round(float(score), 4)
                        manifest.write(json.dumps(entry, ensure_ascii=False) + "\n")
                    bar.update(len(chunk))
            print(f"wrote {len(prompts)} pictures and manifest.jsonl to {out_dir}")
        else:
            (png,), (score,) = pictures(prompts, args.seed)
            out = pathlib.Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(png)
            print(f"wrote {out}" + (f" (best of {args.candidates}, score {score:.3f})" if score is not None else ""))
    except ServingError as err:
        print(f"{prog or 'serving.client'}: error: {err}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as err:
        print(f"{prog or 'serving.client'}: error: {err}", file=sys.stderr)
        return 2
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
