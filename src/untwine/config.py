"""Run configuration: dataclasses read from and written to TOML.

A run's ``config.toml`` holds everything needed to rebuild it. Reading is strict:
an unknown key is an error that names it and lists the valid ones, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w


from .models.vae import ModelConfig


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping. Defaults are the reference set-up except ``steps``
    (the reference trains 300,000 steps; ``untwine run`` uses a laptop-sized default)."""

    steps: int = 300_000
    batch_size: int = 64
    lr: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    seed: int = 0
    checkpoint_every: int = 1000
    log_every: int = 20
    device: str = "auto"
    threads: int = 0  # 0: as many as the machine has cores


@dataclass
class EvalConfig:
    """Which metrics ``untwine run`` / ``untwine evaluate`` compute, with which seed."""

    metrics: list = field(default_factory=lambda: ["mig"])
    seed: int = 0


@dataclass
class RunConfig:
    dataset: str = "dsprites"
    dataset_options: dict = field(default_factory=dict)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        return _from_dict(cls, data, where="config")

    @classmethod
    def from_toml(cls, path: str | Path) -> "RunConfig":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{path} is not valid TOML: {error}") from error
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
    """A command-line value as TOML would read it (6 -> int, 1e-4 -> float, true -> bool), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
