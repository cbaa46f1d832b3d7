"""``python -m api_stub``: an alias of ``palette api`` for containers."""

import sys

from worker.cli import main
from worker.cli.services import api

sys.exit(main(sys.argv[1:], "python -m api_stub", api))
