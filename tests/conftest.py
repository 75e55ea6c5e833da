"""Shared test set-up: tests/ on sys.path, so that helper modules (``_exact``) import from any test folder."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
