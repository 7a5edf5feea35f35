"""`python -m edge.collect`: see edge.collect.command."""

import sys

from edge.collect.command import main
from edge.errors import run_cli

sys.exit(run_cli(main))
