"""One uninterrupted study, shared by the tests that compare a killed study with it."""

import pytest

from tests.helpers.study import fingerprint, write_spec


@pytest.fixture(scope="session")
def reference_study(tmp_path_factory):
    """The tiny study (2 methods × 2 values × 2 seeds) run once, uninterrupted, by the local executor with
    2 workers × 1 thread: (spec path, study directory, fingerprint)."""
    from untwine.study import run

    root = tmp_path_factory.mktemp("reference")
    spec = write_spec(root / "tiny.toml")
    run(spec, root / "study", progress=False, echo=None)
    return spec, root / "study", fingerprint(root / "study")
