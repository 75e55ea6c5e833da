"""Run configuration: dataclasses read from and written to TOML.

A run's ``config.toml`` holds everything needed to rebuild it. Reading is strict:
an unknown key is an error that names it and lists the valid ones, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import inspect
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from . import data as data_room
from .data.pairs import check_k
from .data.sampling import check_spec
from .models import build_objective, objective_class
from .models.vae import LIKELIHOODS, ModelConfig
from .nets import check_encoder_norm
from .validate import check_positive


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping: the ``[train]`` section of a run's ``config.toml``.

    Defaults are the reference set-up except ``steps`` (the reference trains 300,000 steps;
    ``untwine run`` uses a laptop-sized default).

    Parameters
    ----------
    steps : int, default 300000
        Training steps.
    batch_size : int, default 64
        Points per step.
    lr : float, default 1e-4
        Adam's learning rate.
    beta1 : float, default 0.9
        Adam's β1, in [0, 1).
    beta2 : float, default 0.999
        Adam's β2, in [0, 1).
    eps : float, default 1e-8
        Adam's ε.
    seed : int, default 0
        Seeds the weights, every batch and the reparameterisation noise.
    checkpoint_every : int, default 1000
        Steps between checkpoints.
    checkpoint_seconds : float, default 60.0
        Also checkpoint when this long has passed since the last one.
    log_every : int, default 20
        Steps between rows of ``log.csv``.
    device : str, default "auto"
        ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
    threads : int, default 0
        torch's CPU threads; 0: as many as the machine has cores.
    precision : str, default "auto"
        ``"fp32"``, ``"bf16"`` (autocast of the encoder and decoder), or ``"auto"`` (see
        ``untwine.train.precision``).
    factor_sampler : dict, optional
        How training draws factors: ``{}`` (uniform, as the reference), or the sampling bias of
        Chen et al. 2018, e.g. ``{kind = "correlated", factors = ["pos_x", "pos_y"], ratio = 10}``
        (see ``untwine.data.sampling``). Metrics sample uniformly whatever this says.
    """

    steps: int = 300_000
    batch_size: int = 64
    lr: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    seed: int = 0
    checkpoint_every: int = 1000
    checkpoint_seconds: float = 60.0  # also checkpoint when this long has passed since the last one
    log_every: int = 20
    device: str = "auto"
    threads: int = 0  # 0: as many as the machine has cores
    precision: str = "auto"  # fp32, bf16 (autocast of the encoder and decoder), or auto (untwine.train.precision)
    # How training draws factors: {} (uniform, as the reference), or the sampling bias of Chen et al. 2018,
    # e.g. {kind = "correlated", factors = ["pos_x", "pos_y"], ratio = 10} (untwine.data.sampling).
    # Metrics sample uniformly whatever this says.
    factor_sampler: dict = field(default_factory=dict)

    def validate(self) -> None:
        """Check every setting's range.

        Raises
        ------
        ValueError
            Naming the first setting that is out of range.
        """
        for name in ("steps", "seed", "threads"):
            _check_int(f"train.{name}", getattr(self, name), minimum=0)
        for name in ("batch_size", "checkpoint_every", "log_every"):
            _check_int(f"train.{name}", getattr(self, name), minimum=1)
        check_positive("train.lr", self.lr)
        check_positive("train.eps", self.eps)
        check_positive("train.checkpoint_seconds", self.checkpoint_seconds)
        for name in ("beta1", "beta2"):
            value = check_positive(f"train.{name}", getattr(self, name), zero_ok=True)
            if value >= 1:
                raise ValueError(f"train.{name} must lie in [0, 1), got {value}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"train.precision must be auto, fp32 or bf16, got {self.precision!r}")
        if not isinstance(self.device, str) or not (self.device in ("auto", "cpu") or self.device.startswith("cuda")):
            raise ValueError(f"train.device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        _check_factor_sampler(self.factor_sampler)


def _check_factor_sampler(spec, factor_names=None, dataset: str = "the dataset") -> None:
    """train.factor_sampler checked as far as it can be without building the dataset (its sizes are checked when
    training builds it, before anything is written)."""
    try:
        check_spec(spec, factor_names, dataset=dataset)
    except ValueError as error:
        raise ValueError(f"train.{error}") from None


def _check_pair_k(model: ModelConfig, dataset_class) -> None:
    """A paired objective's ``k`` against the factors its dataset class declares (``check_k``), so that a study
    plans no run that would stop at its first step; the trainer checks it again on the dataset it builds (whose
    options or files may change the factors)."""
    objective = build_objective(model.objective, model.params)
    sizes = getattr(dataset_class, "factor_sizes", None)
    if not objective.paired or not isinstance(sizes, (tuple, list)) or not sizes:  # () where the options decide
        return
    try:
        check_k(dataset_class, objective.k)
    except ValueError as error:
        raise ValueError(f"model.params: {error}") from None


def _check_dataset_options(data_room, name: str, options: dict) -> None:
    """The dataset's name and its options' names, checked without building it (which may read large files)."""
    if name not in data_room.DATASETS:
        data_room.get(name)  # raises, listing the valid names
    parameters = inspect.signature(data_room.DATASETS[name].__init__).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        unknown = sorted(set(options) - set(parameters) - {"self"})
        if unknown:
            valid = ", ".join(n for n in parameters if n != "self") or "none"
            raise ValueError(f"dataset {name!r} has no option {', '.join(unknown)}; its options: {valid}")


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")


@dataclass
class EvalConfig:
    """Which metrics ``untwine run`` / ``untwine evaluate`` compute, with which seed.

    Parameters
    ----------
    metrics : list of str, optional
        Metric names (default ``["mig"]``).
    seed : int, default 0
        The seed of the metrics' draws.
    """

    metrics: list = field(default_factory=lambda: ["mig"])
    seed: int = 0


@dataclass
class RunConfig:
    """Everything that rebuilds a run: dataset, model, training and evaluation settings.

    It is written to and read from a run's ``config.toml``; reading is strict (an unknown key
    is an error that names it).

    Parameters
    ----------
    dataset : str, default "dsprites"
        A dataset's registry name, or the path of a perturbed-dataset description (``*.json``).
    dataset_options : dict, optional
        The dataset's constructor options.
    model : ModelConfig, optional
        The objective, its hyperparameters, the latent size and the likelihood.
    train : TrainConfig, optional
        Optimisation and bookkeeping.
    evaluate : EvalConfig, optional
        The metrics scored after training.
    """

    dataset: str = "dsprites"
    dataset_options: dict = field(default_factory=dict)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)

    @property
    def observations_per_step(self) -> int:
        """Observations one training step encodes: the batch size, twice it for an objective trained on pairs
        (``batch_size`` pairs of two observations each)."""
        return self.train.batch_size * (2 if objective_class(self.model.objective).paired else 1)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self, dataset: bool = True) -> "RunConfig":
        """Check every setting that can be checked without loading data or training.

        That is the training numbers, the model (objective, hyperparameters, latent size,
        likelihood) and the dataset's name and options. Metric names are checked by untwine.runs.

        Parameters
        ----------
        dataset : bool, default True
            Check the dataset's name and options; False for a dataset given as an object.

        Returns
        -------
        RunConfig
            The config itself.

        Raises
        ------
        ValueError
            Naming the setting that is invalid.
        FileNotFoundError
            If ``dataset`` is a perturbed-dataset description that does not exist.
        """
        self.train.validate()
        _check_int("model.latent_dim", self.model.latent_dim, minimum=1)
        if self.model.likelihood not in LIKELIHOODS:
            raise ValueError(f"model.likelihood must be one of {', '.join(LIKELIHOODS)}, got {self.model.likelihood!r}")
        check_encoder_norm(self.model.encoder_norm, "model.encoder_norm")
        build_objective(self.model.objective, self.model.params)
        if not dataset:
            pass
        elif str(self.dataset).endswith(".json"):
            if self.dataset_options:
                raise ValueError(
                    f"a perturbed-dataset description takes no dataset_options, got {sorted(self.dataset_options)}"
                )
            if not Path(self.dataset).is_file():
                raise FileNotFoundError(
                    f"perturbed-dataset description not found: {self.dataset}; write one with "
                    f"untwine perturb RUN_DIR --epsilon 0.1"
                )
        else:
            _check_dataset_options(data_room, self.dataset, self.dataset_options)
            # a dataset class names its factors (their sizes may depend on its options or files)
            _check_factor_sampler(
                self.train.factor_sampler,
                getattr(data_room.DATASETS[self.dataset], "factor_names", None),
                dataset=repr(self.dataset),
            )
            _check_pair_k(self.model, data_room.DATASETS[self.dataset])
        if not isinstance(self.evaluate.metrics, list) or not all(isinstance(m, str) for m in self.evaluate.metrics):
            raise ValueError(f"evaluate.metrics must be a list of metric names, got {self.evaluate.metrics!r}")
        _check_int("evaluate.seed", self.evaluate.seed, minimum=0)
        return self

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        return _from_dict(cls, data, where="config")

    @classmethod
    def from_toml(cls, path: str | Path) -> "RunConfig":
        """Read a run config from a TOML file, strictly.

        Parameters
        ----------
        path : str or Path
            The file, e.g. a run's ``config.toml``.

        Returns
        -------
        RunConfig
            The config; keys missing from the file take their defaults.

        Raises
        ------
        FileNotFoundError
            If the file does not exist.
        ValueError
            If it is not valid TOML, has an unknown key (the message lists the valid ones), or a
            value of the wrong type.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            data = tomllib.loads(path.read_bytes().decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path} is not valid TOML ({error}); fix or remove it") from None
        return _from_dict(cls, data, where=str(path))


def _from_dict(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a table, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(fields)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        f = fields[name]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            kwargs[name] = _from_dict(type(default), value, where=f"{where} [{name}]")
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{where}: {name} must be true or false, got {value!r}")
            kwargs[name] = value
        elif isinstance(default, int) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{where}: {name} must be an integer, got {value!r}")
            kwargs[name] = value
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{where}: {name} must be a number, got {value!r}")
            kwargs[name] = float(value)
        elif isinstance(default, (dict, list, str)) and not isinstance(value, type(default)):
            raise ValueError(f"{where}: {name} must be a {type(default).__name__}, got {value!r}")
        else:
            kwargs[name] = value
    return cls(**kwargs)


def parse_value(text: str):
    """A command-line value as TOML would read it (6 -> int, 1e-4 -> float, true -> bool), else a string.

    Parameters
    ----------
    text : str
        The value as typed.

    Returns
    -------
    object
        The int, float, bool, list, ... TOML reads, or ``text`` itself.
    """
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


#: The quick preset of ``untwine run``: a first model in minutes on a 2-core laptop (β-TCVAE, β = 20, 6,000 steps of
#: batch 64 at lr 1e-3), the best of the candidates tried on seeds 1-2; on fresh seeds about one in six comes out
#: entangled in either precision (docs/training.md, "The quick preset", has every run and what to expect).
#: ``untwine train`` keeps the reference set-up (docs/reference.md).
QUICK = {"steps": 6000, "lr": 1e-3, "model": "beta-tcvae", "params": {"beta": 20.0}, "out": "runs/quick"}


def quick_config(seed: int = 0) -> RunConfig:
    """The RunConfig of ``untwine run``'s defaults (the quick preset, ``QUICK``), with ``seed``.

    Parameters
    ----------
    seed : int, default 0
        The run's seed (``train.seed``).

    Returns
    -------
    RunConfig
        The reference config with the quick preset's steps, learning rate, objective and
        hyperparameters, and a checkpoint every 500 steps.
    """
    config = RunConfig()
    config.train.steps = QUICK["steps"]
    config.train.lr = QUICK["lr"]
    config.train.checkpoint_every = 500
    config.train.seed = seed
    config.model.objective = QUICK["model"]
    config.model.params = dict(QUICK["params"])
    return config
