"""``evaluate``: score a representation on a ground-truth dataset with any metrics.

``METRICS`` below is the single source of metric names (one dict, name -> sampler).
Every sampler has the signature ``sampler(representation, data, rng, *,
batch_size, <parameters with reference defaults>)``; its keyword parameters *are*
the metric's parameters (read with ``inspect``, nothing kept by hand), and a
keyword parameter without a default (e.g. ``posterior``) is an extra input the
caller must supply, which keeps the metric out of ``"all"``.

Result layout (documented in docs/metrics.md)::

    {"mig": {"discrete_mig": 0.31,                # the reference keys
             "params": {"num_train": 10000, "num_bins": 20},
             "seed": 0},
     ...}

Each metric draws from its own ``np.random.default_rng(seed)``, so its numbers do
not depend on which other metrics were asked for, nor on their order.
"""

from __future__ import annotations

import inspect
import sys
import time
from typing import Callable, Iterable

import numpy as np

from ._sampling import DEFAULT_BATCH_SIZE, check_batch_size, check_data
from .active_units import sample_active_units
from .beta_vae import sample_beta_vae
from .dci import sample_dci
from .dci_es import sample_dci_es
from .downstream import sample_downstream_gbt, sample_downstream_lr
from .factor_vae import sample_factor_vae
from .infomec import sample_infomec
from .irs import sample_irs
from .mig import sample_mig
from .mig_exact import sample_mig_exact
from .modularity import sample_modularity_explicitness
from .sap import sample_sap
from .sparsity import sample_hoyer_sparsity
from .unsupervised import sample_unsupervised

__all__ = ["METRICS", "evaluate", "metric_parameters", "required_inputs", "expand_metric_names", "flatten"]

#: name -> sampler; the only list of sampled metric names in untwine.
METRICS: dict[str, Callable] = {
    "beta_vae": sample_beta_vae,
    "factor_vae": sample_factor_vae,
    "mig": sample_mig,
    "dci": sample_dci,
    "dci_es": sample_dci_es,
    "sap": sample_sap,
    "modularity_explicitness": sample_modularity_explicitness,
    "irs": sample_irs,
    "unsupervised": sample_unsupervised,
    "downstream_lr": sample_downstream_lr,
    "downstream_gbt": sample_downstream_gbt,
    "hoyer_sparsity": sample_hoyer_sparsity,
    "mig_exact": sample_mig_exact,
    "active_units": sample_active_units,
    "infomec": sample_infomec,
}

# Keyword arguments that choose how, not what, is computed: not recorded.
_EXECUTION_ONLY = {"batch_size", "n_jobs", "progress"}


def _keyword_params(name: str) -> dict[str, inspect.Parameter]:
    sig = inspect.signature(METRICS[name])
    return {p.name: p for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def metric_parameters(name: str) -> dict:
    """The parameters of metric ``name`` with their (reference) defaults.

    Parameters
    ----------
    name : str
        A metric name, one of ``METRICS``.

    Returns
    -------
    dict
        Parameter name -> default. Extra inputs without a default (such as ``posterior``) are listed
        with value ``inspect.Parameter.empty``.

    Raises
    ------
    ValueError
        If ``name`` is not a metric.
    """
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; valid names: {', '.join(METRICS)}, all")
    return {k: p.default for k, p in _keyword_params(name).items() if k not in _EXECUTION_ONLY}


def required_inputs(name: str) -> list[str]:
    """Extra inputs metric ``name`` needs besides a representation and a dataset.

    Parameters
    ----------
    name : str
        A metric name, one of ``METRICS``.

    Returns
    -------
    list of str
        The names of the extra inputs, e.g. ``["posterior"]``; empty for most metrics.

    Raises
    ------
    ValueError
        If ``name`` is not a metric.
    """
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; valid names: {', '.join(METRICS)}, all")
    return [k for k, p in _keyword_params(name).items() if p.default is inspect.Parameter.empty]


def expand_metric_names(metrics: str | Iterable[str]) -> list[str]:
    """Validate metric names and expand ``"all"`` (every metric that needs no extra input).

    Parameters
    ----------
    metrics : str or iterable of str
        A name, or several; ``"all"`` may be among them.

    Returns
    -------
    list of str
        The metric names, each once, in the order asked.

    Raises
    ------
    ValueError
        If a name is not a metric, or no metric is asked for.
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    out: list[str] = []
    for name in metrics:
        if name == "all":
            new = [m for m in METRICS if not required_inputs(m)]
        elif name in METRICS:
            new = [name]
        else:
            raise ValueError(f"unknown metric {name!r}; valid names: {', '.join(METRICS)}, all")
        out.extend(m for m in new if m not in out)
    if not out:
        raise ValueError("no metric asked for")
    return out


def _plain(value):
    """Scores as plain Python (JSON-ready) values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value


def _summary(scores: dict) -> str:
    parts = [f"{k}={v:.4g}" for k, v in scores.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return ", ".join(parts[:4]) + (", ..." if len(parts) > 4 else "")


def evaluate(
    representation: Callable[[np.ndarray], np.ndarray],
    data,
    metrics: str | Iterable[str] = ("mig",),
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    fast: bool = False,
    progress: bool | Callable[[str], None] | None = None,
    n_jobs: int | None = None,
    **overrides,
) -> dict:
    """Score ``representation`` on ``data`` with ``metrics`` (names of ``METRICS`` or ``"all"``).

    Each metric draws from its own ``np.random.default_rng(seed)``, so its numbers do not depend
    on which other metrics were asked for, nor on their order.

    Parameters
    ----------
    representation : callable
        Maps numpy observations (n, ...) to codes (n, d).
    data : object
        Any object following the ground-truth data contract (``factor_sizes``,
        ``sample_factors(n, rng)``, ``observe(factors, rng)``).
    metrics : str or iterable of str, default ("mig",)
        A name, a list of names, or ``"all"``.
    seed : int, default 0
        Each metric draws from ``np.random.default_rng(seed)``.
    batch_size : int, default 1024
        At most this many points go to ``representation`` per call.
    fast : bool, default False
        Use each metric's documented fast preset (values within 0.02 of the reference ones, see
        docs/metrics.md); recorded in ``params``.
    progress : bool or callable, optional
        ``True`` prints one line per metric to stderr; a callable gets each line.
    n_jobs : int, optional
        Joblib workers for per-factor classifiers (values do not depend on it).
    **overrides
        ``name=value`` sets parameter ``name`` of every asked metric that has it (an error if none
        has); ``<metric>={...}`` sets parameters of one metric. Extra inputs (``posterior=...``)
        are passed the same way.

    Returns
    -------
    dict
        ``{metric: {<reference keys>..., "params": {...}, "seed": seed}}``.

    Raises
    ------
    ValueError
        If a metric name, a parameter or an extra input is unknown or missing, ``seed`` is not a
        non-negative integer, or ``batch_size`` is not a positive one.
    TypeError
        If a per-metric override ``<metric>=`` is not a dict, or ``data`` lacks what the data
        contract asks for.
    """
    names = expand_metric_names(metrics)
    batch_size = check_batch_size(batch_size)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    if progress is True:

        def progress(line: str) -> None:
            print(line, file=sys.stderr, flush=True)
    elif not progress:
        progress = None

    per_metric = {k: overrides.pop(k) for k in list(overrides) if k in METRICS}
    for k, v in per_metric.items():
        if not isinstance(v, dict):
            raise TypeError(f"override {k}= must be a dict of parameters of metric {k!r}, got {type(v).__name__}")
        if k not in names:
            raise ValueError(f"parameters given for metric {k!r}, which was not asked for (asked: {', '.join(names)})")
    for key in overrides:
        if key in _EXECUTION_ONLY or not any(key in _keyword_params(m) for m in names):
            raise ValueError(
                f"no asked metric has a parameter {key!r}; parameters: "
                + "; ".join(f"{m}: {', '.join(metric_parameters(m))}" for m in names)
            )

    plans = []
    for name in names:
        params = _keyword_params(name)
        kwargs = {k: v for k, v in overrides.items() if k in params}
        for k, v in per_metric.get(name, {}).items():
            if k not in params or k in _EXECUTION_ONLY:
                raise ValueError(
                    f"metric {name!r} has no parameter {k!r}; it has: {', '.join(metric_parameters(name))}"
                )
            kwargs[k] = v
        if "fast" in params and "fast" not in kwargs:
            kwargs["fast"] = bool(fast)
        missing = [k for k in required_inputs(name) if k not in kwargs]
        if missing:
            raise ValueError(
                f"metric {name!r} needs the extra input(s) {', '.join(missing)} "
                f"(pass {missing[0]}=... to evaluate); see docs/metrics.md"
            )
        if "n_jobs" in params and n_jobs is not None:
            kwargs["n_jobs"] = n_jobs
        plans.append((name, kwargs))
    check_data(data, metric=names[0])

    results = {}
    for i, (name, kwargs) in enumerate(plans, 1):
        if progress:
            progress(f"[{i}/{len(plans)}] {name}: running")
        start = time.perf_counter()
        rng = np.random.default_rng(seed)
        scores = METRICS[name](representation, data, rng, batch_size=batch_size, **kwargs)
        recorded = {k: v for k, v in metric_parameters(name).items() if v is not inspect.Parameter.empty}
        recorded.update({k: v for k, v in kwargs.items() if k not in _EXECUTION_ONLY and not callable(v)})
        results[name] = {**_plain(scores), "params": _plain(recorded), "seed": seed}
        if progress:
            progress(f"[{i}/{len(plans)}] {name}: {_summary(results[name])} ({time.perf_counter() - start:.2f} s)")
    return results


def flatten(results: dict) -> dict:
    """Flatten ``evaluate``'s result to one level, keeping scalar scores only.

    Parameters
    ----------
    results : dict
        A result of ``evaluate``, ``{"mig": {"discrete_mig": x, ...}, ...}``.

    Returns
    -------
    dict
        ``{"mig.discrete_mig": x, ...}``; ``params``, ``seed`` and non-scalar values are left out.
    """
    flat = {}
    for name, scores in results.items():
        for k, v in scores.items():
            if k not in ("params", "seed") and isinstance(v, (int, float, bool)):
                flat[f"{name}.{k}"] = v
    return flat
