"""untwine.study: studies (specs, executors, the results table) and their analyses.

A study is a grid of runs (datasets × methods × hyperparameters × seeds) from one TOML spec, run on
this machine, a Ray cluster or SLURM, resumable, with nothing lost (docs/studies.md); its results
table feeds the analyses of :mod:`untwine.study.analyses`.

>>> from untwine import study
>>> spec = study.load_spec("laptop")                      # a preset, or a path to a TOML spec
>>> print(study.plan(spec, measure=False).summary())      # doctest: +SKIP
>>> study.run(spec, "studies/laptop")                     # doctest: +SKIP
>>> print(study.status("studies/laptop").table())         # doctest: +SKIP
>>> table = study.collect("studies/laptop")               # doctest: +SKIP

The run directories are the only state: a killed study, run again, skips scored runs,
continues partial ones from their checkpoints and retries failed ones only when asked.
"""

from ..executor_options import add_executor_arguments, executor_overrides
from .executors import Executor, LocalExecutor, RayExecutor, SlurmExecutor, make_executor
from .plan import Plan, plan
from .presets import PRESETS
from .results import COLUMNS, collect, table_columns, training_summary
from .runner import StudyChanged, StudyFailed, run
from .spec import PlannedRun, SpecError, StudySpec, load_spec, parse_spec
from .state import RunState, StudyStatus, status, stored_spec
from .tasks import Outcome, RunTask, UDRTask

__all__ = [
    "load_spec",
    "parse_spec",
    "plan",
    "run",
    "status",
    "stored_spec",
    "collect",
    "training_summary",
    "COLUMNS",
    "table_columns",
    "PRESETS",
    "StudySpec",
    "PlannedRun",
    "Plan",
    "RunState",
    "StudyStatus",
    "SpecError",
    "StudyChanged",
    "StudyFailed",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "SlurmExecutor",
    "make_executor",
    "add_executor_arguments",
    "executor_overrides",
    "RunTask",
    "UDRTask",
    "Outcome",
]
