"""``python -m worker``: an alias of ``palette worker`` for containers."""

import sys

from worker.cli import main
from worker.cli.services import worker

sys.exit(main(sys.argv[1:], "python -m worker", worker))
