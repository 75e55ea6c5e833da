"""The file names of a run directory, shared by the room that writes one (``train``) and
the room that reads it (``runs``). Standard library only, so any room may import it.

::

    <run>/
      config.toml          the RunConfig that rebuilds the run
      model.safetensors    weights of the last checkpoint
      state/               resumable training state (checkpoint.safetensors + state.json)
      log.csv              loss terms per logged step
      metrics.json         scores, with the parameters, seed and step that made them
      report.html          the page a person opens (report_*.png beside it)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONFIG = "config.toml"
WEIGHTS = "model.safetensors"
STATE_DIR = "state"
CHECKPOINT = "checkpoint.safetensors"
STATE_JSON = "state.json"
LOG = "log.csv"
METRICS = "metrics.json"
REPORT = "report.html"


@dataclass(frozen=True)
class RunFiles:
    """The paths of one run directory."""

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


__all__ = ["RunFiles", "CONFIG", "WEIGHTS", "STATE_DIR", "CHECKPOINT", "STATE_JSON", "LOG", "METRICS", "REPORT"]
