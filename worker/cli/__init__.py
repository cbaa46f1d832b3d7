"""``palette``: the one command. Each subcommand is config → clients → one call → output.

    palette extract   palettes of local files, offline        (worker.cli.extract)
    palette submit    upload, wait, print the results          (worker.cli.client)
    palette sweep     enqueue whatever lacks a current result  (worker.cli.client)
    palette dead-letters  list | replay | purge                (worker.cli.dead_letters)
    palette demo      stack up, submit the samples             (worker.cli.client)
    palette stack     up | down | status | env                 (infra.cli)
    palette worker    the Celery worker (= python -m worker)   (worker.cli.services)
    palette beat      the sweep's scheduler, one per deployment (worker.cli.services)
    palette api       the api_stub      (= python -m api_stub) (worker.cli.services)

A new subcommand is a ``click`` command in the module of its concern, added to the group
below. Errors reach the user as one line on stderr saying what happened and what to do,
never as a traceback; the exit code says whether everything succeeded (0), something
failed (1) or the command line was wrong (2).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from infra.cli import stack_group
from worker.cli.client import demo, submit, sweep
from worker.cli.dead_letters import dead_letters
from worker.cli.extract import extract
from worker.cli.output import error, hint
from worker.cli.services import api, beat, worker
from worker.errors import PaletteError

EXIT_FAILED, EXIT_INTERRUPTED = 1, 130


palette = click.Group(
    "palette",
    help="Colour palettes for images.",
    commands=[extract, submit, sweep, dead_letters, demo, stack_group, worker, beat, api],
)


def main(
    argv: Sequence[str] | None = None,
    prog_name: str = "palette",
    command: click.Command | None = None,
) -> int:
    """Run ``palette`` (or one of its ``command``s, for the ``python -m`` aliases) with
    ``argv`` (default: the process's); returns the exit code."""
    args = list(argv) if argv is not None else None
    chosen = palette if command is None else command
    try:
        result = chosen.main(args=args, prog_name=prog_name, standalone_mode=False)
    except click.ClickException as exc:  # usage errors: click's message, exit 2
        exc.show()
        return exc.exit_code
    except PaletteError as exc:
        error(f"{exc.code}: {exc.message}{hint(exc.code)}")
        return EXIT_FAILED
    except (KeyboardInterrupt, click.Abort):
        return EXIT_INTERRUPTED
    except Exception as exc:  # never a traceback: one line, and where to look
        error(f"internal_error: {type(exc).__name__}: {exc} (please report it)")
        return EXIT_FAILED
    return int(result or 0)


def run() -> None:
    """The console script."""
    sys.exit(main())
