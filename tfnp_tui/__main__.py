"""python -m tfnp_tui: the same as the tfnp-tui command."""

import sys

from .cli import main

sys.exit(main())
