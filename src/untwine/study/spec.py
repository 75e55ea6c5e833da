"""A study spec: a TOML file that expands into run configs.

The format (docs/studies.md has the whole of it)::

    name = "my-study"
    seeds = 3                                  # a count (0, 1, 2) or a list [0, 7, 9]
    datasets = ["dsprites", "color-dsprites"]  # names, or tables {name, options, label, train, model}
    representations = ["mean", "sampled"]

    [train]                                    # any key of RunConfig's [train] (steps, lr, batch_size, ...)
    steps = 1000
    [model]                                    # latent_dim, likelihood, encoder_norm
    latent_dim = 10

    [[methods]]
    model = "beta-vae"                         # an objective (untwine models)
    grid = {beta = [1, 4, 16]}                 # lists expand as a product; a list of tables is several grids
    params = {}                                # fixed hyperparameters, not part of the run's name
    train = {lr = 5e-4}                        # per-method overrides of [train] and [model]

    [metrics]
    names = ["mig", "dci"]
    fast = true
    seed = 0
    params = {num_train = 2000, dci = {num_test = 1000}}   # as untwine.metrics.evaluate's overrides

    [udr]                                      # study-level UDR over the seeds of each cell
    enabled = true

    [executor]                                 # local (default), ray or slurm; see executors.py
    kind = "local"

Reading is strict: an unknown key, a wrong type or an unknown name is an error that
names it and where it is. Each expanded run has a readable directory,
``<dataset>/<method>/<param>=<value>[,...]/seed=<k>``, and a stable id: a hash of what
the run trains (its settings less those a continued run may change), so that editing
the spec elsewhere never renames or re-identifies it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import RunConfig, TrainConfig
from ..executor_options import EXECUTOR_KINDS
from ..metrics import expand_metric_names, metric_parameters
from ..models import objective_class
from ..models.vae import ModelConfig
from .presets import PRESETS, preset_text

__all__ = [
    "StudySpec",
    "DatasetSpec",
    "MethodSpec",
    "MetricsSpec",
    "UDRSpec",
    "ExecutorSpec",
    "PlannedRun",
    "REPRESENTATIONS",
    "EXECUTOR_KINDS",
    "load_spec",
    "parse_spec",
    "expand",
    "run_id",
    "format_value",
]

#: The representations a run can be scored on: posterior means, or one z ~ q(z|x) per point.
REPRESENTATIONS = ("mean", "sampled")
#: Run settings that do not change what is trained (a continued run may change them), left out of a run's id.
NOT_IN_ID = {
    ("train", "threads"),
    ("train", "device"),
    ("train", "checkpoint_every"),
    ("train", "checkpoint_seconds"),
    ("train", "log_every"),
}
_MODEL_KEYS = tuple(f.name for f in dataclasses.fields(ModelConfig) if f.name not in ("objective", "params"))
_TRAIN_KEYS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name != "seed")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset of the study: its registry ``name``, ``options``, the ``label`` used in run names and the
    results table (the name unless given), and overrides of ``[train]`` and ``[model]`` for its runs."""

    name: str
    options: dict = field(default_factory=dict)
    label: str = ""
    train: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MethodSpec:
    """A model with its grids: ``grids`` is a tuple of tables whose list values expand as a product (every key
    of a grid appears in the run's name); ``params`` are fixed hyperparameters (not in the name); ``train`` and
    ``model`` override the study's settings for this method. ``name`` (default: the model) names its directory."""

    model: str
    name: str
    grids: tuple = ({},)
    params: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    model_settings: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MetricsSpec:
    """Metric ``names`` (or "all"), their ``fast`` presets, the evaluation ``seed``, and ``params``: overrides as
    :func:`untwine.metrics.evaluate` takes them (a scalar for every metric that has it, a table per metric)."""

    names: tuple = ("mig",)
    fast: bool = False
    seed: int = 0
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class UDRSpec:
    """UDR (Duan et al. 2020) over the seeds of each cell, once the cell's runs are done (``enabled``, the
    number of points every model encodes, ``correlation`` lasso or spearman, the sampling ``seed``)."""

    enabled: bool = True
    num_points: int = 1000
    correlation: str = "lasso"
    seed: int = 0


@dataclass(frozen=True)
class ExecutorSpec:
    """Where runs run: the ``[executor]`` table of a spec.

    ``local``: ``workers`` processes on this machine (0: in this process, for debugging),
    each run with ``threads_per_run`` threads (0: the machine's cores divided by the workers). ``ray``: one Ray
    task per run with ``threads_per_run`` CPUs (1 when 0) and ``num_gpus``, connecting to ``address`` ("" starts
    a local instance, "auto" finds a running one, "host:port"). ``slurm``: submitit job arrays in ``folder``
    (relative to the study directory), ``cluster`` "slurm" (or "local" to try it on this machine), with
    ``partition``, ``timeout_min``, ``mem_gb``, ``array_parallelism`` and any other sbatch option in ``slurm``.

    Attributes
    ----------
    kind
        local, ray or slurm.
    workers
        local: processes at once (0: in this process).
    threads_per_run
        Threads (ray, slurm: CPUs) per run; 0: the default of the kind.
    max_retries
        How often a run whose worker died (a kill, the OOM killer) is started again; each try
        resumes from its checkpoint.
    address
        ray: the cluster ("" starts a local instance, "auto" finds a running one, "host:port").
    num_gpus
        ray, slurm: GPUs per run.
    folder
        slurm: where the job arrays and their logs go, relative to the study directory.
    cluster
        slurm: "slurm", or "local" to try it on this machine.
    partition, timeout_min, mem_gb, array_parallelism
        slurm: the jobs' partition, time limit (minutes), memory (GB; 0: not set) and how many
        jobs of an array run at once.
    slurm
        slurm: any other sbatch option.
    """

    kind: str = "local"
    # 2 runs at once: on 2 cores, 2 workers x 1 thread trained 4 runs in 0.78x the wall time of 1 x 2
    # (bench/study_overhead.py, docs/studies.md "Measured"); on more cores each run gets cores / 2 threads.
    workers: int = 2
    threads_per_run: int = 0
    max_retries: int = 2
    address: str = ""
    num_gpus: float = 0.0
    folder: str = "slurm"
    cluster: str = "slurm"
    partition: str = ""
    timeout_min: int = 720
    mem_gb: float = 0.0
    array_parallelism: int = 256
    slurm: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StudySpec:
    """A parsed study spec; ``text`` is the TOML it was read from (kept in the study directory).

    Attributes
    ----------
    name, description
        The study's name and what it is for.
    datasets
        A `DatasetSpec` per dataset.
    methods
        A `MethodSpec` per method (a model with its grids).
    seeds
        The training seeds of every cell.
    representations
        The representations each run is scored on (mean, sampled).
    train, model
        The ``[train]`` and ``[model]`` settings of every run.
    metrics
        The ``[metrics]`` table (`MetricsSpec`).
    udr
        The ``[udr]`` table (`UDRSpec`).
    executor
        The ``[executor]`` table (`ExecutorSpec`).
    text
        The TOML it was read from.
    source
        Where it was read from (a file, a preset's name).
    """

    name: str
    description: str
    datasets: tuple
    methods: tuple
    seeds: tuple
    representations: tuple
    train: dict
    model: dict
    metrics: MetricsSpec
    udr: UDRSpec
    executor: ExecutorSpec
    text: str = ""
    source: str = ""

    def runs(self) -> list["PlannedRun"]:
        """The expansion (see :func:`expand`), computed once per spec (a paper-sized spec takes seconds)."""
        expanded = self.__dict__.get("_expanded")
        if expanded is None:
            expanded = expand(self)
            object.__setattr__(self, "_expanded", expanded)  # a cache, not a field: equality is unchanged
        return list(expanded)


@dataclass(frozen=True)
class PlannedRun:
    """One run of a study, as the spec expands to it.

    Attributes
    ----------
    id
        A stable identifier of what the run trains.
    path
        Its directory, relative to the study directory.
    dataset
        The dataset's label.
    method
        The method's name.
    model
        The objective.
    params
        The hyperparameters named in its path.
    seed
        The training seed.
    cell
        The path without the seed: the runs UDR compares.
    config
        The full RunConfig.
    """

    id: str
    path: str
    dataset: str
    method: str
    model: str
    params: dict
    seed: int
    cell: str
    config: RunConfig


# -- reading -----------------------------------------------------------------------------------------------------


class SpecError(ValueError):
    """A study spec that cannot be read: the message names the key, where it is, and what it must be."""


_TOP_KEYS = (
    "name",
    "description",
    "seeds",
    "datasets",
    "representations",
    "train",
    "model",
    "methods",
    "metrics",
    "udr",
    "executor",
)


def _strict(table, valid, where: str) -> dict:
    if not isinstance(table, dict):
        raise SpecError(f"{where}: expected a table, got {table!r}")
    unknown = sorted(set(table) - set(valid))
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(valid)}")
    return table


def _typed(value, kind, where: str):
    """``value`` as ``kind`` (int, float, bool, str, list, dict), with the TOML reading of numbers."""
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise SpecError(f"{where} must be {'a ' + kind.__name__ if kind is not int else 'an int'}, got {value!r}")
    return value


def _dataclass_from(cls, table: dict, where: str, **renamed):
    names = [f.name for f in dataclasses.fields(cls)]
    valid = [renamed.get(n, n) for n in names]
    _strict(table, valid, where)
    back = {v: k for k, v in renamed.items()}
    kwargs = {}
    for key, value in table.items():
        name = back.get(key, key)
        default = next(f for f in dataclasses.fields(cls) if f.name == name)
        default = default.default_factory() if default.default_factory is not dataclasses.MISSING else default.default
        kind = type(default) if not isinstance(default, tuple) else list
        value = _typed(value, kind, f"{where} {key}")
        kwargs[name] = tuple(value) if isinstance(default, tuple) else value
    return cls(**kwargs)


def _settings(table, keys, where: str) -> dict:
    """A [train] or [model] table: only keys RunConfig has (the types are checked when the configs are built)."""
    return dict(_strict(table, keys, where))


def _seeds(value, where: str) -> tuple:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise SpecError(f"{where} seeds must be a count ≥ 1 or a list of seeds, got {value}")
        return tuple(range(value))
    if (
        isinstance(value, list)
        and value
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)
    ):
        if len(set(value)) != len(value):
            raise SpecError(f"{where} seeds lists a seed twice: {value}")
        return tuple(value)
    raise SpecError(f"{where} seeds must be a count (e.g. 3) or a list of non-negative integers, got {value!r}")


def _datasets(value, where: str) -> tuple:
    if not isinstance(value, list) or not value:
        raise SpecError(f"{where} datasets must be a non-empty list of names or tables, got {value!r}")
    out = []
    for i, item in enumerate(value):
        here = f"{where} datasets[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        _strict(item, ("name", "options", "label", "train", "model"), here)
        if "name" not in item:
            raise SpecError(f"{here}: a dataset table needs a name")
        name = _typed(item["name"], str, f"{here} name")
        options = _typed(item.get("options", {}), dict, f"{here} options")
        label = _typed(item.get("label", name), str, f"{here} label")
        _check_label(label, f"{here} label")
        out.append(
            DatasetSpec(
                name,
                dict(options),
                label,
                _settings(item.get("train", {}), _TRAIN_KEYS, f"{here} train"),
                _settings(item.get("model", {}), _MODEL_KEYS, f"{here} model"),
            )
        )
    labels = [d.label for d in out]
    twice = sorted({x for x in labels if labels.count(x) > 1})
    if twice:
        raise SpecError(
            f"{where} datasets: {', '.join(twice)} appear twice; give each a distinct label "
            f'(e.g. {{name = "{twice[0]}", options = {{...}}, label = "{twice[0]}-2"}})'
        )
    return tuple(out)


def _check_label(label: str, where: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", label):
        raise SpecError(f"{where} {label!r} must be letters, digits and . _ + - (it names a directory)")


def _methods(value, where: str) -> tuple:
    if not isinstance(value, list) or not value:
        raise SpecError(f'{where} needs at least one [[methods]] table (model = "beta-vae", grid = {{beta = [1, 4]}})')

    out = []
    for i, item in enumerate(value):
        here = f"{where} methods[{i}]"
        _strict(item, ("model", "name", "grid", "params", "train", "model_settings"), here)
        if "model" not in item:
            raise SpecError(f"{here}: a method needs a model (untwine models lists them)")
        model = _typed(item["model"], str, f"{here} model")
        try:
            cls = objective_class(model)
        except ValueError as error:
            raise SpecError(f"{here}: {error}") from None
        name = _typed(item.get("name", model), str, f"{here} name")
        _check_label(name, f"{here} name")
        grid = item.get("grid", {})
        grids = grid if isinstance(grid, list) else [grid]
        if not grids:
            raise SpecError(f"{here} grid: an empty list expands to no run; give a table (grid = {{beta = [1, 4]}})")
        valid = cls.hyperparameters()
        params = _typed(item.get("params", {}), dict, f"{here} params")
        checked = []
        for j, g in enumerate(grids):
            gwhere = f"{here} grid" + (f"[{j}]" if isinstance(grid, list) else "")
            _typed(g, dict, gwhere)
            for key, values in g.items():
                if key not in valid:
                    raise SpecError(
                        f"{gwhere}: model {model!r} has no hyperparameter {key!r}; its hyperparameters: "
                        f"{', '.join(valid) or 'none'}"
                    )
                if key in params:
                    raise SpecError(f"{gwhere}: {key!r} is both in the grid and in params; keep it in one")
                if isinstance(values, list) and not values:
                    raise SpecError(f"{gwhere} {key}: an empty list expands to no run")
                if isinstance(values, dict):
                    # per dataset: {dsprites = [1, 2, 3, 4], cars3d = [1, 2]}; the labels are checked with the datasets
                    if not values:
                        raise SpecError(f"{gwhere} {key}: an empty table expands to no run")
                    for label, per in values.items():
                        if isinstance(per, dict) or (isinstance(per, list) and not per):
                            raise SpecError(
                                f"{gwhere} {key}.{label}: give a value or a non-empty list of values, got {per!r}"
                            )
            checked.append(dict(g))
        for key in params:
            if key not in valid:
                raise SpecError(
                    f"{here} params: model {model!r} has no hyperparameter {key!r}; its hyperparameters: "
                    f"{', '.join(valid) or 'none'}"
                )
        out.append(
            MethodSpec(
                model,
                name,
                tuple(checked),
                dict(params),
                _settings(item.get("train", {}), _TRAIN_KEYS, f"{here} train"),
                _settings(item.get("model_settings", {}), _MODEL_KEYS, f"{here} model_settings"),
            )
        )
    names = [m.name for m in out]
    twice = sorted({x for x in names if names.count(x) > 1})
    if twice:
        raise SpecError(
            f"{where} methods: {', '.join(twice)} appear twice; merge their grids into one method "
            f"(grid = [{{...}}, {{...}}]) or give each a distinct name"
        )
    return tuple(out)


def _metrics(table, where: str) -> MetricsSpec:

    spec = _dataclass_from(MetricsSpec, table, f"{where} [metrics]")
    try:
        names = tuple(expand_metric_names(list(spec.names)))
    except ValueError as error:
        raise SpecError(f"{where} [metrics] names: {error}") from None
    for key, value in spec.params.items():
        if isinstance(value, dict):
            if key not in names:
                raise SpecError(
                    f"{where} [metrics] params.{key}: parameters for a metric that is not in names ({', '.join(names)})"
                )
            valid = metric_parameters(key)
            for k in value:
                if k not in valid or k == "fast":
                    raise SpecError(
                        f"{where} [metrics] params.{key}: metric {key!r} has no parameter {k!r}; it has: "
                        f"{', '.join(p for p in valid if p != 'fast')}"
                    )
        elif not any(key in metric_parameters(n) and key != "fast" for n in names):
            raise SpecError(
                f"{where} [metrics] params: no listed metric has a parameter {key!r} (set fast with "
                f"metrics.fast); parameters: " + "; ".join(f"{n}: {', '.join(metric_parameters(n))}" for n in names)
            )
    _typed(spec.seed, int, f"{where} [metrics] seed")
    if spec.seed < 0:
        raise SpecError(f"{where} [metrics] seed must be ≥ 0, got {spec.seed}")
    return dataclasses.replace(spec, names=names)


def _udr(table, where: str) -> UDRSpec:
    spec = _dataclass_from(UDRSpec, table, f"{where} [udr]")
    if spec.correlation not in ("lasso", "spearman"):
        raise SpecError(f"{where} [udr] correlation must be lasso or spearman, got {spec.correlation!r}")
    if spec.num_points < 2 or spec.seed < 0:
        raise SpecError(f"{where} [udr] num_points must be ≥ 2 and seed ≥ 0")
    return spec


def parse_executor(table, where: str = "executor") -> ExecutorSpec:
    spec = _dataclass_from(ExecutorSpec, table, f"{where} [executor]")
    if spec.kind not in EXECUTOR_KINDS:
        raise SpecError(f"{where} [executor] kind must be one of {', '.join(EXECUTOR_KINDS)}, got {spec.kind!r}")
    for name in ("workers", "threads_per_run", "max_retries", "timeout_min", "array_parallelism"):
        if getattr(spec, name) < 0:
            raise SpecError(f"{where} [executor] {name} must be ≥ 0, got {getattr(spec, name)}")
    if spec.kind == "ray" and spec.workers == 0:
        raise SpecError(f"{where} [executor] workers = 0 (in-process) is for the local executor only")
    return spec


def parse_spec(text: str, source: str = "spec") -> StudySpec:
    """A study spec from TOML text.

    Parameters
    ----------
    text
        The spec, in TOML (docs/studies.md describes its tables).
    source
        What names it in errors (a file name).

    Returns
    -------
    StudySpec
        The parsed, checked spec.

    Raises
    ------
    SpecError
        Naming the table, key and value at fault.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{source} is not valid TOML ({error})") from None
    _strict(data, _TOP_KEYS, source)
    for required in ("datasets", "methods"):
        if required not in data:
            raise SpecError(f"{source}: missing {required!r} (see untwine study init laptop for a complete spec)")
    representations = tuple(
        _typed(data.get("representations", list(REPRESENTATIONS)), list, f"{source} representations")
    )
    for r in representations:
        if r not in REPRESENTATIONS:
            raise SpecError(f"{source} representations: {r!r} is not one of {', '.join(REPRESENTATIONS)}")
    if len(set(representations)) != len(representations):
        raise SpecError(f"{source} representations lists one twice: {list(representations)}")
    spec = StudySpec(
        name=_typed(data.get("name", Path(source).stem), str, f"{source} name"),
        description=_typed(data.get("description", ""), str, f"{source} description"),
        datasets=_datasets(data["datasets"], source),
        methods=_methods(data["methods"], source),
        seeds=_seeds(data.get("seeds", 1), source),
        representations=representations,
        train=_settings(data.get("train", {}), _TRAIN_KEYS, f"{source} [train]"),
        model=_settings(data.get("model", {}), _MODEL_KEYS, f"{source} [model]"),
        metrics=_metrics(data.get("metrics", {}), source),
        udr=_udr(data.get("udr", {}), source),
        executor=parse_executor(data.get("executor", {}), source),
        text=text,
        source=source,
    )
    _check_per_dataset_values(spec)
    spec.runs()  # every run config is checked now, before anything runs
    return spec


def _check_per_dataset_values(spec: StudySpec) -> None:
    """A grid value given per dataset names every dataset of the study, and only those."""
    labels = [d.label for d in spec.datasets]
    for method in spec.methods:
        for grid in method.grids:
            for key, values in grid.items():
                if not isinstance(values, dict):
                    continue
                where = f"{spec.source} methods {method.name!r} grid {key}"
                unknown = sorted(set(values) - set(labels))
                if unknown:
                    raise SpecError(
                        f"{where}: {', '.join(unknown)} is not a dataset label of this study; its labels: "
                        f"{', '.join(labels)}"
                    )
                missing = [label for label in labels if label not in values]
                if missing:
                    raise SpecError(
                        f"{where} gives values per dataset but none for {', '.join(missing)}; add "
                        f"{missing[0]} = [...] to the table (or give one list for every dataset)"
                    )


def load_spec(spec: str | Path | StudySpec) -> StudySpec:
    """A study spec from a file or a preset.

    Parameters
    ----------
    spec
        A TOML file, a preset's name (``untwine study presets``), or a :class:`StudySpec` (returned as it is).

    Returns
    -------
    StudySpec
        The parsed, checked spec.

    Raises
    ------
    SpecError
        An unknown preset or a spec that does not parse or check.
    """
    if isinstance(spec, StudySpec):
        return spec

    path = Path(spec)
    if path.is_file():
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as error:
            raise SpecError(f"{path} is not UTF-8 text ({error})") from None
        return parse_spec(text, str(path))
    if str(spec) in PRESETS:
        return parse_spec(preset_text(str(spec)), str(spec))
    raise FileNotFoundError(
        f"study spec {str(spec)!r} is neither a file nor a preset ({', '.join(PRESETS)}); "
        f"write one with untwine study init laptop > my.toml"
    )


# -- expansion ---------------------------------------------------------------------------------------------------


def format_value(value) -> str:
    """A hyperparameter value as it appears in a run's name: integral numbers without a decimal point
    (4, not 4.0), other floats as Python writes them (0.5, 1e-05), booleans lowercase."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    return re.sub(r"[^A-Za-z0-9._+-]", "_", str(value))


def _coerce(model: str, key: str, value):
    """A hyperparameter as its default's type (an int written for a float hyperparameter becomes a float), so
    that beta = 4 and beta = 4.0 are the same run."""
    default = objective_class(model).hyperparameters().get(key)
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _id_payload(config: RunConfig) -> dict:
    flat = {}
    for section, values in config.to_dict().items():
        if section == "evaluate":
            continue
        if isinstance(values, dict) and section in ("train", "model"):
            for key, value in values.items():
                if (section, key) == ("train", "factor_sampler") and not value:
                    continue  # uniform sampling, the default: ids of runs from before the option stay the same
                if (section, key) == ("model", "encoder_norm") and value == "none":
                    continue  # the reference encoder, the default: ids of runs from before the option stay the same
                if (section, key) not in NOT_IN_ID:
                    flat[f"{section}.{key}"] = value
        else:
            flat[section] = values
    return flat


def _hash(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def run_id(config: RunConfig) -> str:
    """A stable id of what a run trains: a hash of its config less the settings a continued run may change
    (threads, device, checkpoint and log intervals) and less the [evaluate] section."""
    return _hash(_id_payload(config))


def _grid_points(grid: dict, dataset: str) -> list[dict]:
    """The product of a grid's values on one dataset (a value given per dataset is that dataset's)."""
    keys = sorted(grid)
    values = [grid[k][dataset] if isinstance(grid[k], dict) else grid[k] for k in keys]
    axes = [v if isinstance(v, list) else [v] for v in values]
    return [dict(zip(keys, values)) for values in itertools.product(*axes)]


def _build_config(
    spec: StudySpec, dataset: DatasetSpec, method: MethodSpec, params: dict, seed: int, where: str
) -> RunConfig:
    train = {**spec.train, **dataset.train, **method.train, "seed": seed}
    model = {**spec.model, **dataset.model, **method.model_settings, "objective": method.model, "params": params}
    evaluate = {"metrics": list(spec.metrics.names), "seed": spec.metrics.seed}
    try:
        config = RunConfig.from_dict(
            {
                "dataset": dataset.name,
                "dataset_options": dict(dataset.options),
                "model": model,
                "train": train,
                "evaluate": evaluate,
            }
        )
        config.validate()
    except (ValueError, FileNotFoundError) as error:
        raise SpecError(f"{where}: {error}") from None
    return config


def expand(spec: StudySpec) -> list[PlannedRun]:
    """Every run of the study, seed-major (all cells' seed 0 first, so that a stopped study has covered the
    grid once before it repeats it), each with its path, id and RunConfig. Two runs with one path or one id
    are an error naming both."""
    runs: list[PlannedRun] = []
    cells = []
    for dataset in spec.datasets:
        for method in spec.methods:
            for grid in method.grids:
                for point in _grid_points(grid, dataset.label):
                    named = {k: _coerce(method.model, k, v) for k, v in point.items()}
                    params = {**{k: _coerce(method.model, k, v) for k, v in method.params.items()}, **named}
                    label = ",".join(f"{k}={format_value(v)}" for k, v in named.items()) or "defaults"
                    cells.append((dataset, method, named, params, f"{dataset.label}/{method.name}/{label}"))
    # One config is built and checked per cell; the seeds of a cell differ in train.seed only.
    templates = [
        _build_config(spec, dataset, method, params, spec.seeds[0], f"{spec.source}: run {cell}/seed=*")
        for dataset, method, named, params, cell in cells
    ]
    payloads = [_id_payload(t) for t in templates]
    for seed in spec.seeds:
        for (dataset, method, named, params, cell), template, payload in zip(cells, templates, payloads):
            config = dataclasses.replace(
                template,
                train=dataclasses.replace(template.train, seed=seed),
                model=dataclasses.replace(template.model, params=dict(template.model.params)),
                dataset_options=dict(template.dataset_options),
                evaluate=dataclasses.replace(template.evaluate, metrics=list(template.evaluate.metrics)),
            )
            runs.append(
                PlannedRun(
                    _hash({**payload, "train.seed": seed}),
                    f"{cell}/seed={seed}",
                    dataset.label,
                    method.name,
                    method.model,
                    dict(named),
                    seed,
                    cell,
                    config,
                )
            )
    seen_path, seen_id = {}, {}
    for run in runs:
        if run.path in seen_path:
            raise SpecError(
                f"{spec.source}: two grid points give the run {run.path}; remove the duplicate value or "
                f"split the method under another name"
            )
        if run.id in seen_id:
            raise SpecError(
                f"{spec.source}: runs {seen_id[run.id]} and {run.path} train the same thing (same "
                f"settings and seed); remove one"
            )
        seen_path[run.path] = run
        seen_id[run.id] = run.path
    return runs


def spec_differences(
    old: StudySpec, new: StudySpec, started: Callable[[str], bool] | None = None
) -> tuple[list[str], list[PlannedRun]]:
    """What changed from ``old`` to ``new``: (differences that change finished work, as sentences; runs that are
    new). The executor section, name and description may change freely; a change is accepted when it only adds
    runs (more seeds, another value, dataset or method). ``started(path)``: whether a run of ``old`` has begun
    (its directory exists); a run that has not may change or go, it is planned anew (None: every run has)."""
    problems = []
    for key in ("representations",):
        if getattr(old, key) != getattr(new, key):
            problems.append(f"{key}: {list(getattr(old, key))} before, {list(getattr(new, key))} now")
    for section in ("metrics", "udr"):
        a, b = dataclasses.asdict(getattr(old, section)), dataclasses.asdict(getattr(new, section))
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                problems.append(f"[{section}] {key}: {a.get(key)!r} before, {b.get(key)!r} now")
    old_runs = {r.path: r for r in expand(old)}
    new_runs = {r.path: r for r in expand(new)}
    added = []
    for path, run in old_runs.items():
        if started is not None and not started(path):
            if path in new_runs and new_runs[path].id != run.id:
                added.append(new_runs[path])
            continue
        if path not in new_runs:
            problems.append(f"run {path} is no longer in the spec")
        elif new_runs[path].id != run.id:
            problems.append(f"run {path} changed: {_config_changes(run.config, new_runs[path].config)}")
    added += [r for p, r in new_runs.items() if p not in old_runs]
    return problems, added


def _config_changes(a: RunConfig, b: RunConfig) -> str:
    def flat(config):
        out = {}
        for section, values in config.to_dict().items():
            if isinstance(values, dict) and section in ("train", "model"):
                out.update({f"{section}.{k}": v for k, v in values.items() if (section, k) not in NOT_IN_ID})
            elif section != "evaluate":
                out[section] = values
        return out

    fa, fb = flat(a), flat(b)
    return "; ".join(f"{k} {fa.get(k)!r} -> {fb.get(k)!r}" for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k))
