"""The file names of a run directory, shared by the room that writes one (``train``) and
the room that reads it (``runs``). Standard library only, so any room may import it.

::

    <run>/
      config.toml          the RunConfig that rebuilds the run
      model.safetensors    weights of the last checkpoint
      log.csv              loss terms per logged step
      state/               the last checkpoint, committed as one generation:
        checkpoint-<step>.safetensors   weights, objective and optimiser state
        log-<step>.csv                  the log up to that step
        state.json                      the manifest, written last: the step, and the
                                        SHA-256 of every file of the generation
      history.json         settings changed when the run was continued
      metrics.json         scores, with the parameters, seed, step and weights that made them
      report.html          the page a person opens (report_*.png beside it)

A checkpoint is committed by writing its manifest, after every file it names. A kill at
any moment leaves either the previous manifest (whose files are still there) or the new
one; files a manifest does not name, or whose checksum differs from it, are leftovers of
an interrupted checkpoint, and a rerun replaces them from the committed generation.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from .atomic import atomic_write

CONFIG = "config.toml"
WEIGHTS = "model.safetensors"
STATE_DIR = "state"
CHECKPOINT = "checkpoint.safetensors"
STATE_JSON = "state.json"
LOG = "log.csv"
METRICS = "metrics.json"
REPORT = "report.html"
HISTORY = "history.json"
# what a study adds to a run directory (untwine.study)
METRICS_SAMPLED = "metrics-sampled.json"  # scores of the sampled representation
ERROR_FILE = "error.json"  # the run's last failure
RUNNING_FILE = "running.json"  # host and pid of the task running it
LOCK_FILE = ".lock"  # the lock a task holds on the run
EVENTS = "events"  # TensorBoard events
MANIFEST_FORMAT = 2


@dataclass(frozen=True)
class RunFiles:
    """The paths of one run directory.

    Parameters
    ----------
    root
        The run directory (it need not exist).

    Attributes
    ----------
    root
        The run directory, as a Path; the properties (``config``, ``weights``, ``state_dir``,
        ``checkpoint``, ``state``, ``log``, ``metrics``, ``report``, ``history``) are the paths of its
        files.
    """

    root: Path

    def __init__(self, root: str | Path):
        object.__setattr__(self, "root", Path(root))

    @property
    def config(self) -> Path:
        return self.root / CONFIG

    @property
    def weights(self) -> Path:
        return self.root / WEIGHTS

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def checkpoint(self) -> Path:
        return self.root / STATE_DIR / CHECKPOINT

    @property
    def state(self) -> Path:
        return self.root / STATE_DIR / STATE_JSON

    @property
    def log(self) -> Path:
        return self.root / LOG

    @property
    def metrics(self) -> Path:
        return self.root / METRICS

    @property
    def report(self) -> Path:
        return self.root / REPORT

    @property
    def history(self) -> Path:
        return self.root / HISTORY

    def generation(self, step: int) -> tuple[Path, Path]:
        """The checkpoint and log files of the generation of ``step``."""
        return (self.state_dir / f"checkpoint-{step:09d}.safetensors", self.state_dir / f"log-{step:09d}.csv")


def sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex).

    Parameters
    ----------
    path
        The file, read in blocks of 1 MiB.

    Returns
    -------
    str
        The hex digest.

    Raises
    ------
    OSError
        A file that cannot be read (FileNotFoundError when it does not exist).
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Manifest:
    """The committed checkpoint of a run (``state/state.json``).

    Attributes
    ----------
    step
        The step of the checkpoint.
    checkpoint, log
        The generation's checkpoint and log files, relative to the run directory (``log`` None in
        a legacy manifest).
    files
        Maps each file of the generation (relative to the run directory) to its SHA-256.
    weights_sha256, log_sha256
        What ``model.safetensors`` and ``log.csv`` hold when they are in step with it (None in a
        legacy manifest).
    optimizers
        Optimiser name -> its param groups and scalar state (its tensors are in the checkpoint).
    legacy
        A manifest of the first format (untwine ≤ 0.1, no checksums).
    precision
        The precision the run trains in (fp32, bf16).
    """

    step: int
    checkpoint: str
    log: str | None
    files: dict
    weights_sha256: str | None
    log_sha256: str | None
    optimizers: dict
    legacy: bool = False
    precision: str = "fp32"


def _bad_state(path: Path, why: str) -> ValueError:
    return ValueError(
        f"{path} is not a readable checkpoint manifest ({why}). The weights of the last checkpoint "
        f"are still in {path.parent.parent / WEIGHTS} if it exists; to train the run again from "
        f"step 0, remove {path.parent} (or use another --out)"
    )


def read_manifest(run_dir: str | Path) -> Manifest | None:
    """The run's committed checkpoint, or None when it has none yet.

    Nothing is checked against the files here.

    Parameters
    ----------
    run_dir
        A run directory.

    Returns
    -------
    Manifest or None
        The manifest in ``state/state.json``; None when there is none.

    Raises
    ------
    ValueError
        A manifest that does not parse (or cannot be read), naming the file and the way out.
    """
    path = RunFiles(run_dir).state
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _bad_state(path, f"not JSON: {error}") from None
    except OSError as error:
        raise _bad_state(path, str(error)) from None
    if not isinstance(data, dict):
        raise _bad_state(path, "not a JSON object")
    try:
        step = data["step"]
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise _bad_state(path, f"'step' must be a non-negative integer, got {step!r}")
        optimizers = data["optimizers"]
        if not isinstance(optimizers, dict):
            raise _bad_state(path, "'optimizers' must be an object")
        if "format" not in data:
            return Manifest(step, f"{STATE_DIR}/{CHECKPOINT}", None, {}, None, None, optimizers, legacy=True)
        if data["format"] != MANIFEST_FORMAT:
            raise _bad_state(
                path, f"format {data['format']!r} is not one this version of untwine reads ({MANIFEST_FORMAT})"
            )
        recorded = data.pop("manifest_sha256")
        if recorded != _payload_digest(data):
            raise _bad_state(path, "its own checksum does not match its content: the file was damaged")
        files = data["files"]
        names = (data["checkpoint"], data["log"])
        if (
            not isinstance(files, dict)
            or any(not isinstance(n, str) or n not in files for n in names)
            or not all(isinstance(v, str) and len(v) == 64 for v in files.values())
        ):
            raise _bad_state(path, "'files' must map the checkpoint and log files to their SHA-256")
        for key in ("weights_sha256", "log_sha256"):
            if not isinstance(data[key], str) or len(data[key]) != 64:
                raise _bad_state(path, f"{key!r} must be a SHA-256")
        precision = data.get("precision", "fp32")
        if precision not in ("fp32", "bf16"):
            raise _bad_state(path, f"'precision' must be fp32 or bf16, got {precision!r}")
        return Manifest(
            step,
            names[0],
            names[1],
            dict(files),
            data["weights_sha256"],
            data["log_sha256"],
            optimizers,
            precision=precision,
        )
    except KeyError as error:
        raise _bad_state(path, f"missing {error}") from None


def _payload_digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def manifest_json(
    step: int,
    checkpoint: str,
    log: str,
    files: dict,
    weights_sha256: str,
    log_sha256: str,
    optimizers: dict,
    precision: str = "fp32",
) -> str:
    """The text of a manifest (the inverse of `read_manifest`).

    It carries a checksum of its own content, so that a damaged manifest is never taken for
    another step.

    Parameters
    ----------
    step
        The step of the checkpoint.
    checkpoint, log
        The generation's checkpoint and log files, relative to the run directory.
    files
        Each file of the generation (relative to the run directory) -> its SHA-256; it must name
        ``checkpoint`` and ``log``.
    weights_sha256, log_sha256
        The SHA-256 of ``model.safetensors`` and ``log.csv`` in step with the checkpoint.
    optimizers
        Optimiser name -> its param groups and scalar state.
    precision
        The precision the run trains in (fp32, bf16).

    Returns
    -------
    str
        The manifest's JSON.
    """
    payload = {
        "format": MANIFEST_FORMAT,
        "step": step,
        "checkpoint": checkpoint,
        "log": log,
        "files": files,
        "weights_sha256": weights_sha256,
        "log_sha256": log_sha256,
        "optimizers": optimizers,
        "precision": precision,
    }
    return json.dumps({**payload, "manifest_sha256": _payload_digest(payload)}, indent=1)


# -- scores ----------------------------------------------------------------------------------------------------
# The one place that reads and writes a run's score files (``untwine evaluate``, ``untwine.runs``, a study's
# scoring and UDR all go through these) and decides whether a stored score is current.

#: representation -> the file of a run directory that holds its scores
SCORE_FILES = {"mean": METRICS, "sampled": METRICS_SAMPLED}
#: the key of a stored result that was not scored, with why (e.g. ``active_units`` of a deterministic code, which
#: has no posterior variance): ``{"skipped": "<why>", "params": ..., "seed": ..., "step": ..., "weights_sha256": ...}``
#: is current like a score (`is_current`), so it is not computed again, and it holds no number
SKIPPED = "skipped"
#: the key that marks a skip record of a metric that is undefined on this run's code, rather than not asked of its
#: kind of model: e.g. ``infomec`` of a code whose every latent takes one value (a collapsed model,
#: ``untwine.metrics.CollapsedRepresentation``). ``{"skipped": "<why>", "undefined": true, ...}`` is current like a
#: score of these weights, so a collapsed run is not scored again on every call, and holds no number
UNDEFINED = "undefined"
#: the key of a stored result's note: what its numbers mean beyond the metric's own keys (e.g. that the sampled
#: representation of a deterministic code is its mean)
NOTE = "note"


def score_file(run_dir: str | Path, representation: str = "mean") -> Path:
    """The file of a run directory that holds one representation's scores (`SCORE_FILES`).

    Parameters
    ----------
    run_dir
        A run directory.
    representation
        mean or sampled.

    Returns
    -------
    Path
        ``metrics.json`` or ``metrics-sampled.json`` in ``run_dir`` (it need not exist).

    Raises
    ------
    ValueError
        A representation that is not one of `SCORE_FILES`.
    """
    try:
        return Path(run_dir) / SCORE_FILES[representation]
    except KeyError:
        raise ValueError(f"representation must be one of {', '.join(SCORE_FILES)}, got {representation!r}") from None


def read_scores(run_dir: str | Path, representation: str = "mean") -> dict:
    """The stored scores of one representation, ``{metric: result}`` ({} when there are none).

    Parameters
    ----------
    run_dir
        A run directory.
    representation
        mean or sampled.

    Returns
    -------
    dict
        ``{metric: result}``; {} when the file does not exist.

    Raises
    ------
    ValueError
        A file that does not parse, naming it (writing scores moves it aside: `store_scores`), or
        a representation that is not one of `SCORE_FILES`.
    """
    path = score_file(run_dir, representation)
    if not path.is_file():
        return {}
    try:
        scores = json.loads(path.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}); move it aside, or score the run again (which moves it aside)"
        ) from None
    if not isinstance(scores, dict):
        raise ValueError(
            f"{path} does not hold an object of metrics; move it aside, or score the run again (which moves it aside)"
        )
    return scores


def set_aside(path: Path) -> Path:
    """Rename a damaged file out of the way as ``<name>.corrupt-<time>[-n]``.

    It is never deleted: it may hold work someone wants back.

    Parameters
    ----------
    path
        The damaged file.

    Returns
    -------
    Path
        Where it now is, beside its old place.

    Raises
    ------
    OSError
        A file that cannot be renamed (FileNotFoundError when it does not exist).
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
        counter += 1
    os.replace(path, target)
    return target


def store_scores(run_dir: str | Path, representation: str, results: dict) -> None:
    """Merge ``{metric: result}`` into the representation's scores file, atomically.

    A file that does not parse is moved aside (`set_aside`) with a warning, and a new one written.

    Parameters
    ----------
    run_dir
        A run directory.
    representation
        mean or sampled.
    results
        ``{metric: result}``, replacing the stored results of those metrics.

    Raises
    ------
    ValueError
        A representation that is not one of `SCORE_FILES`.
    """
    path = score_file(run_dir, representation)
    try:
        scores = read_scores(run_dir, representation)
    except ValueError:
        moved = set_aside(path)
        warnings.warn(
            f"{path} did not parse; it was moved to {moved.name} and a new one written with these scores",
            RuntimeWarning,
            stacklevel=2,
        )
        scores = {}
    scores.update(results)
    atomic_write(path, json.dumps(scores, indent=1))


def is_skipped(result) -> bool:
    """Whether a stored result records a metric that was not scored (`SKIPPED`), rather than a score.

    Parameters
    ----------
    result
        A stored result; anything that is not a dict is not a skip.

    Returns
    -------
    bool
        True when ``result`` is a dict with a `SKIPPED` reason.
    """
    return isinstance(result, dict) and isinstance(result.get(SKIPPED), str)


def is_current(result, weights_sha256: str | None, seed: int | None = None, params: dict | None = None) -> bool:
    """Whether a stored score ``result`` scored these weights (and this seed and these parameters, when given).

    The one rule: ``untwine.runs.status`` asks about the weights, a study about all three.

    Parameters
    ----------
    result
        A stored result (``{"weights_sha256": ..., "seed": ..., "params": ..., ...}``); anything
        else is not current.
    weights_sha256
        The SHA-256 of the run's current weights (None: nothing is current).
    seed
        The evaluation seed it must have been scored with (None: any).
    params
        The parameters it must have been scored with (None: any).

    Returns
    -------
    bool
        True when ``result`` is current.
    """
    if not isinstance(result, dict) or weights_sha256 is None or result.get("weights_sha256") != weights_sha256:
        return False
    if seed is not None and result.get("seed") != seed:
        return False
    return params is None or json.dumps(result.get("params"), sort_keys=True) == json.dumps(params, sort_keys=True)


__all__ = [
    "RunFiles",
    "Manifest",
    "read_manifest",
    "manifest_json",
    "sha256",
    "CONFIG",
    "WEIGHTS",
    "STATE_DIR",
    "CHECKPOINT",
    "STATE_JSON",
    "LOG",
    "METRICS",
    "REPORT",
    "HISTORY",
    "METRICS_SAMPLED",
    "ERROR_FILE",
    "RUNNING_FILE",
    "LOCK_FILE",
    "EVENTS",
    "SCORE_FILES",
    "SKIPPED",
    "NOTE",
    "is_skipped",
    "score_file",
    "read_scores",
    "set_aside",
    "store_scores",
    "is_current",
]
