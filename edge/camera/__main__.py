"""`python -m edge.camera`: see edge.camera.command."""

import sys

from edge.camera.command import main
from edge.errors import run_cli

sys.exit(run_cli(main))
