"""``python -m untwine.cli``: the same as the ``untwine`` command."""

import sys

from . import main

sys.exit(main())
