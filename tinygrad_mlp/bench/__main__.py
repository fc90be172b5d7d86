"""``python -m tinygrad_mlp.bench``."""

import sys

from . import run

sys.exit(run())
