"""Served models: the versions under each base path, which of them serve (TF Serving's version
policies), and the poll that loads new versions and unloads old ones while requests keep coming.

What a deploy looks like, as TF Serving's default policy has it (serve the latest version):
a new folder `BASE/NAME/2/` appears (copied in whole, then renamed into place); the next poll loads
it fully (its warmup requests included) beside version 1, switches new requests to it at once, waits
for the requests already running on version 1, then unloads 1. A version that fails to load is
reported (GetModelStatus: state END with its error) and the versions already serving stay; it is
tried again only when its `saved_model.pb` changes. A removed version folder unloads that version,
unless it is the last one serving.
"""

import dataclasses
import logging
import pathlib
import threading
import time
import traceback

import grpc
from google.protobuf import message, text_format
from tensorflow_serving.apis import get_model_status_pb2, status_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving.servable import Limits, ServedVersion
from serving.status import ServingError

log = logging.getLogger("serving")
State = get_model_status_pb2.ModelVersionStatus.State


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """Which of the versions on disk serve: TF Serving's `model_version_policy`.

    kind "latest" (the `num_versions` highest; TF Serving's default, with 1), "all", or
    "specific" (`versions`).
    """

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple = ()

    def __post_init__(self):
        if self.kind not in ("latest", "all", "specific"):
            raise ValueError(f"unknown version policy {self.kind!r}: latest, all or specific")
        if self.kind == "latest" and self.num_versions < 1:
            raise ValueError("model_version_policy latest: num_versions must be >= 1")
        if self.kind == "specific" and not self.versions:
            raise ValueError("model_version_policy specific: name at least one version")

    @classmethod
    def from_proto(cls, policy):
        """From a ModelConfig's `model_version_policy` (unset: latest 1)."""
        choice = policy.WhichOneof("policy_choice")
        if choice == "all":
            return cls("all")
        if choice == "specific":
            return cls("specific", versions=tuple(policy.specific.versions))
        return cls("latest", num_versions=policy.latest.num_versions or 1) if choice == "latest" else cls()

    def select(self, versions):
        """The versions of `versions` (those on disk that may load) that should serve."""
        if self.kind == "all":
            return set(versions)
        if self.kind == "specific":
            return set(versions) & set(self.versions)
        return set(sorted(versions)[-self.num_versions :])


def version_folders(base_path):
    """{version: folder} for the integer-named folders under `base_path` that hold a saved_model.pb
    (a folder without one yet is a copy in progress and waits for a later poll)."""
    base = pathlib.Path(base_path)
    if not base.is_dir():
        return {}
    return {int(p.name): p for p in base.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()}


def _stamp(folder):
    """What tells a changed export from the one that failed: saved_model.pb's size and time."""
    try:
        info = (folder / "saved_model.pb").stat()
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def _load_error(err):
    """(error code name, message) of a failed load, as TF Serving reports a version that did not load."""
    if isinstance(err, message.DecodeError):
        return "DATA_LOSS", f"Can't parse saved_model.pb as binary proto: {err}"
    code = getattr(err, "error_code", None)  # a tf.errors.OpError: its codes are numbered as gRPC's
    if code is not None:
        return _CODE_NAMES.get(code, "UNKNOWN"), err.message
    return "UNKNOWN", f"{type(err).__name__}: {err}"


class ServedModel:
    """The versions of one model under `base_path`, loaded as `policy` says; `serving(version)` hands
    one out for a request (0 = the latest serving one).

    The first `refresh()` runs here, and NOT_FOUND is raised if no version could be loaded.
    """

    def __init__(self, name, base_path, limits=Limits(), policy=VersionPolicy()):
        self.name = name
        self.base_path = pathlib.Path(base_path)
        self.limits = limits
        self.policy = policy
        self._lock = threading.Lock()  # guards _serving and _states
        self._serving = {}  # version -> ServedVersion, AVAILABLE
        self._states = {}  # version -> ModelVersionStatus of every version seen
        self._failed = {}  # version -> _stamp of its export when it failed to load
        self.refresh()
        if not self._serving:
            errors = [f"version {v}: {s.status.error_message}" for v, s in sorted(self._states.items()) if s.status.error_message]
            found = "; ".join(errors) or f"no version folder with a saved_model.pb under {self.base_path} (expected {self.base_path}/1/)"
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"model {name}: nothing to serve: {found}")

    @property
    def version(self):
        """The latest serving version (what a request without a version gets)."""
        with self._lock:
            return max(self._serving)

    @property
    def versions(self):
        """The serving versions, ascending."""
        with self._lock:
            return sorted(self._serving)

    def serving(self, version=0):
        """A context manager holding the served version a request runs on (0 = latest): it is not
        unloaded before the request is done. NOT_FOUND for a version that is not serving."""
        with self._lock:
            chosen = version or (max(self._serving) if self._serving else None)
            served = self._serving.get(chosen)
            if served is None:
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Specific({self.name}, {version})")
            served.enter()
        return _InFlight(served)

    def status(self, version=0):
        """ModelVersionStatus of every version seen (or of `version`; NOT_FOUND if never seen), ascending."""
        with self._lock:
            if version:
                if version not in self._states:
                    raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find version {version} of model {self.name}")
                return [self._states[version]]
            return [self._states[v] for v in sorted(self._states)]

    def refresh(self):
        """One poll: load the versions the policy wants that are not serving, then unload those it no
        longer wants (never the last one serving)."""
        on_disk = version_folders(self.base_path)
        for version in list(self._failed):
            if version not in on_disk or _stamp(on_disk[version]) != self._failed[version]:
                del self._failed[version]
        wanted = self.policy.select(v for v in on_disk if v not in self._failed)
        for version in sorted(wanted - set(self._serving)):
            self._load(version, on_disk[version])
        with self._lock:
            retiring = [v for v in sorted(self._serving) if v not in wanted]
            keep = set(self._serving) - set(retiring)
            if not keep and retiring:  # nothing the policy wants could load: the newest stays
                retiring.remove(max(retiring))
            leaving = [self._serving.pop(v) for v in retiring]
            for served in leaving:
                self._states[served.version] = _version_status(served.version, State.UNLOADING)
        for served in leaving:
            served.stop()
            with self._lock:
                self._states[served.version] = _version_status(served.version, State.END)
            log.info("model %s version %s: unloaded", self.name, served.version)

    def _load(self, version, folder):
        with self._lock:
            self._states[version] = _version_status(version, State.LOADING)
        log.info("model %s version %s: loading %s", self.name, version, folder)
        started = time.monotonic()
        served = None
        try:
            served = ServedVersion(self.name, version, folder, self.limits)
            warmed = served.warm_up(folder)
        except Exception as err:  # noqa: BLE001  (any broken export is a failed load, never a dead server)
            if served is not None:
                served.stop()
            code, text = _load_error(err)
            self._failed[version] = _stamp(folder)
            with self._lock:
                self._states[version] = _version_status(version, State.END, code, text)
            log.error("model %s version %s: failed to load: %s: %s", self.name, version, code, text)
            log.debug("%s", traceback.format_exc())
            return
        with self._lock:
            before = max(self._serving) if self._serving else None
            self._serving[version] = served
            self._states[version] = _version_status(version, State.AVAILABLE)
            latest = max(self._serving)
        log.info("model %s version %s: available (%.1f s, %d warmup requests)", self.name, version, time.monotonic() - started, warmed)
        if before is not None and latest != before:
            log.info("model %s: requests without a version now go to version %s (was %s)", self.name, latest, before)

    def stop(self):
        with self._lock:
            leaving = list(self._serving.values())
            self._serving.clear()
        for served in leaving:
            served.stop()


class _InFlight:
    """`with model.serving(v) as served:`: the request holds `served` until the block ends."""

    def __init__(self, served):
        self.served = served

    def __enter__(self):
        return self.served

    def __exit__(self, *exc):
        self.served.leave()


def _version_status(version, state, code="OK", text=""):
    return get_model_status_pb2.ModelVersionStatus(
        version=version, state=state, status=status_pb2.StatusProto(error_code=_ERROR_CODES[code], error_message=text)
    )


# status_pb2.StatusProto's error_code is tensorflow.error.Code, numbered as gRPC's codes.
_ERROR_CODES = {code.name: code.value[0] for code in grpc.StatusCode}
_CODE_NAMES = {number: name for name, number in _ERROR_CODES.items()}


class ModelRepository:
    """All served models by name, and the poll that keeps their versions current.

    Args:
        models: the `ServedModel`s.
        poll_wait_s: seconds between polls of the base paths once `start()`ed (TF Serving's
            `--file_system_poll_wait_seconds`, 1 by default there); 0 = no polling.
    """

    def __init__(self, models, poll_wait_s=0.0):
        self.models = {model.name: model for model in models}
        self.poll_wait_s = poll_wait_s
        self._stopping = threading.Event()
        self._poller = None

    @classmethod
    def from_config_file(cls, path, limits=Limits(), poll_wait_s=0.0):
        """Loads each model of a text ModelServerConfig (relative base paths resolve against the working
        directory), with its `model_version_policy`."""
        config = text_format.Parse(pathlib.Path(path).read_text(), model_server_config_pb2.ModelServerConfig())
        models = []
        for entry in config.model_config_list.config:
            if entry.model_platform not in ("", "tensorflow"):
                raise ValueError(f"{path}: model {entry.name!r}: only model_platform 'tensorflow' is served")
            try:
                policy = VersionPolicy.from_proto(entry.model_version_policy)
            except ValueError as err:
                raise ValueError(f"{path}: model {entry.name!r}: {err}") from None
            models.append(ServedModel(entry.name, entry.base_path, limits, policy))
        if not models:
            raise ValueError(f"{path}: model_config_list has no models")
        return cls(models, poll_wait_s)

    def model(self, name):
        """The ServedModel called `name` (NOT_FOUND otherwise)."""
        if name not in self.models:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})")
        return self.models[name]

    def start(self):
        """Starts polling the base paths every `poll_wait_s` seconds (if > 0)."""
        if self.poll_wait_s > 0 and self._poller is None:
            self._poller = threading.Thread(target=self._poll, name="version-poll", daemon=True)
            self._poller.start()
        return self

    def _poll(self):
        while not self._stopping.wait(self.poll_wait_s):
            for model in self.models.values():
                try:
                    model.refresh()
                except Exception:  # noqa: BLE001  (the poll outlives any one bad pass)
                    log.exception("model %s: polling %s failed", model.name, model.base_path)

    def stop(self):
        self._stopping.set()
        if self._poller is not None:
            self._poller.join()
        for model in self.models.values():
            model.stop()
