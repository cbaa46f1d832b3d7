"""``python -m worker.beat``: an alias of ``palette beat`` for containers.

Its own module, so the CLI (which runs ``worker.beat.run``) is not imported by the
package it runs: no import cycle.
"""

import sys

from worker.cli import main
from worker.cli.services import beat

sys.exit(main(sys.argv[1:], "python -m worker.beat", beat))
