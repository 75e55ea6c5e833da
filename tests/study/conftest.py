"""The study tests' helpers (``_study_helpers``) import from this folder, and one uninterrupted study is
shared by the tests that compare a killed study with it."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _study_helpers import fingerprint, write_spec  # noqa: E402


@pytest.fixture(scope="session")
def reference_study(tmp_path_factory):
    """The tiny study (2 methods × 2 values × 2 seeds) run once, uninterrupted, by the local executor with
    2 workers × 1 thread: (spec path, study directory, fingerprint)."""
    from untwine.study import run

    root = tmp_path_factory.mktemp("reference")
    spec = write_spec(root / "tiny.toml")
    run(spec, root / "study", progress=False, echo=None)
    return spec, root / "study", fingerprint(root / "study")
