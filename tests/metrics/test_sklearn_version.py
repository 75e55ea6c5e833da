"""The scikit-learn the fast preset was checked against.

The fast preset imports private scikit-learn modules (the histogram tree grower of its
no-compiler fallback) and reproduces ``GradientBoostingClassifier`` and
``LogisticRegressionCV`` step by step; the tests use private losses as oracles. Any of
these may change in another release without notice, so pyproject.toml pins the range
the values were checked against, and these tests fail loudly outside it instead of
letting the numbers drift.
"""

import importlib
import inspect
import tomllib
from pathlib import Path

import sklearn
from packaging.requirements import Requirement
from packaging.version import Version

from untwine.metrics._tree_fallback import SKLEARN_PRIVATE

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

# Private names the tests and bench/ use as oracles (module, name, keywords used).
ORACLES = (
    ("sklearn._loss.loss", "HalfBinomialLoss", ()),
    ("sklearn._loss.loss", "HalfMultinomialLoss", ("n_classes",)),
    ("sklearn.linear_model._linear_loss", "LinearModelLoss", ("base_loss", "fit_intercept")),
)

WHAT_TO_DO = (
    "Install a scikit-learn inside the checked range (pip install 'scikit-learn{spec}'), or, to move "
    "the range: check the fast preset against the new version (python -m pytest tests/metrics, "
    "python bench/metrics_speed.py for the deviations in docs/metrics.md), then update the pin in "
    "pyproject.toml and the private imports listed in untwine/metrics/_tree_fallback.py "
    "(SKLEARN_PRIVATE)."
)


def checked_range() -> Requirement:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (requirement,) = [Requirement(d) for d in dependencies if Requirement(d).name == "scikit-learn"]
    return requirement


def test_the_pin_has_an_upper_bound():
    spec = checked_range().specifier
    assert any(s.operator in ("<", "<=", "==", "~=") for s in spec), (
        f"pyproject.toml pins scikit-learn{spec} with no upper bound: the fast preset relies on private "
        "modules, so the pin must end at the last release it was checked against"
    )


def test_installed_scikit_learn_is_in_the_checked_range():
    spec = checked_range().specifier
    installed = Version(sklearn.__version__)
    assert spec.contains(installed, prereleases=True), (
        f"scikit-learn {installed} is installed, but untwine's fast preset was checked against "
        f"scikit-learn{spec} only: it imports private scikit-learn modules and reproduces its classifiers step "
        "by step, so on another version its values may silently drift. " + WHAT_TO_DO.format(spec=spec)
    )


def test_the_private_names_exist_with_the_arguments_used():
    spec = checked_range().specifier
    for module_name, name, keywords in SKLEARN_PRIVATE + ORACLES:
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise AssertionError(
                f"scikit-learn {sklearn.__version__} has no module {module_name} ({error}). "
                + WHAT_TO_DO.format(spec=spec)
            ) from None
        assert hasattr(module, name), (
            f"scikit-learn {sklearn.__version__} has no {module_name}.{name}. " + WHAT_TO_DO.format(spec=spec)
        )
        parameters = inspect.signature(getattr(module, name)).parameters
        missing = [k for k in keywords if k not in parameters]
        assert not missing, (
            f"scikit-learn {sklearn.__version__}'s {module_name}.{name} lacks the arguments "
            f"{missing}. " + WHAT_TO_DO.format(spec=spec)
        )
