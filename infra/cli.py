"""``palette stack up|down|status|env``: the native stack from the command line.

Thin over ``infra.stack``: human output on stdout, one error line on stderr (plus the
log tail of a component that did not come up), exit 0 only on success.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from infra import stack
from infra.processes import StackError
from infra.state import default_stack_dir
from worker.redact import redact_text


@click.group("stack", help="Run the whole stack natively: SeaweedFS, Redis, api_stub, worker.")
@click.option(
    "--dir",
    "stack_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Stack directory (default: $PALETTE_STACK_DIR or ~/.local/state/palette-worker).",
)
@click.pass_context
def stack_group(ctx: click.Context, stack_dir: Path | None) -> None:
    ctx.obj = stack_dir or default_stack_dir()


@stack_group.command("up", help="Start (or reuse) every component and wait until they answer.")
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Worker concurrency; 0: no local worker (other hosts run them).",
)
@click.option(
    "--beat/--no-beat",
    default=True,
    show_default=True,
    help="Run the periodic sweep (Celery beat): in the worker, or alone with --workers 0.",
)
@click.option(
    "--bind",
    metavar="ADDR",
    default=None,
    help="IPv4 address SeaweedFS, Redis (with its password) and the api_stub listen on, "
    "and the one `stack env` hands out (default: the last one, else 127.0.0.1).",
)
@click.option("--timeout", type=float, default=stack.DEFAULT_TIMEOUT, show_default=True)
@click.pass_obj
def up(stack_dir: Path, workers: int, beat: bool, bind: str | None, timeout: float) -> int:
    return start(stack_dir, workers=workers, beat=beat, bind=bind, timeout=timeout)


def start(
    stack_dir: Path,
    *,
    workers: int = 1,
    beat: bool = True,
    bind: str | None = None,
    timeout: float = stack.DEFAULT_TIMEOUT,
) -> int:
    """``palette stack up`` as a function (``palette demo`` starts the stack with it)."""

    def action() -> None:
        started = time.monotonic()
        stack.up(stack_dir, workers=workers, beat=beat, bind=bind, timeout=timeout, report=print)
        print(f"stack up in {time.monotonic() - started:.1f} s ({stack_dir})")
        print('clients: eval "$(palette stack env)"')

    return _reported(action)


@stack_group.command("down", help="Stop the components this stack started.")
@click.option("--purge", is_flag=True, help="Also delete data and secrets.")
@click.pass_obj
def down(stack_dir: Path, purge: bool) -> int:
    def action() -> None:
        stack.down(stack_dir, purge=purge)
        print(f"stack down ({stack_dir}){'; data purged' if purge else ''}")

    return _reported(action)


@stack_group.command("status", help="One line per component; exit 0 only if all are healthy.")
@click.pass_obj
def status(stack_dir: Path) -> int:
    rows = stack.status(stack_dir)
    for row in rows:
        pid = str(row.pid) if row.pid else "-"
        print(f"{row.name:<10} {pid:<8} {row.health:<10} {row.endpoint}  {row.detail}".rstrip())
    return 0 if all(row.healthy for row in rows) else 1


@stack_group.command("env", help="Export lines for clients (they include the secret key).")
@click.pass_obj
def env(stack_dir: Path) -> int:
    def action() -> None:
        for name, value in stack.env(stack_dir).items():
            print(f"export {name}={shlex.quote(value)}")

    return _reported(action)


def _reported(action: Callable[[], None]) -> int:
    """Run a stack action; its failure is one line on stderr (and a log tail), exit 1."""
    try:
        action()
    except stack.StackUnhealthy as exc:
        print(f"palette stack: {exc}", file=sys.stderr)
        print(f"--- last lines of the {exc.component} log ---\n{exc.tail}", file=sys.stderr)
        return 1
    except StackError as exc:
        print(f"palette stack: {redact_text(str(exc))}", file=sys.stderr)
        return 1
    return 0
