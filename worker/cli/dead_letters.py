"""``palette dead-letters list|replay|purge``: the jobs and callbacks that ran out of
attempts (``worker.dead_letters``), for an operator once the outage is over."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from worker.cli.output import write_json
from worker.ledger import Ledger

EXIT_OK = 0

_REASON = click.option(
    "--reason", default=None, help="Only entries given up with this code (e.g. timeout)."
)


@click.group("dead-letters", help="Jobs and callbacks that ran out of attempts.")
def dead_letters() -> None:
    """The group; each subcommand reads the broker named by the environment or stack."""


@dead_letters.command("list", help="Show the dead letters, newest first.")
@_REASON
@click.option(
    "--format", "fmt", type=click.Choice(["json", "table"]), default="table", show_default=True
)
def list_command(reason: str | None, fmt: str) -> int:
    from worker.dead_letters import entries

    found = entries(_ledger(), reason)
    if fmt == "json":
        write_json([{"reason": e.reason, "at": e.at, "job": e.job} for e in found])
        return EXIT_OK
    for entry in found:
        print(f"{_when(entry.at)}  {entry.reason:<20}  {entry.task:<16}  {entry.key}")
    print(f"{len(found)} dead-lettered")
    return EXIT_OK


@dead_letters.command("replay", help="Send them back to their queues, oldest first.")
@_REASON
def replay_command(reason: str | None) -> int:
    from worker.cli.client import client_settings
    from worker.dead_letters import replay, sender

    replayed, unreadable = replay(_ledger(), sender(client_settings()), reason)
    kept = f", {unreadable} unreadable kept" if unreadable else ""
    print(f"replayed {replayed}{kept}")
    return EXIT_OK


@dead_letters.command("purge", help="Delete them (all, or those with --reason).")
@_REASON
@click.option("--yes", is_flag=True, help="Do not ask.")
def purge_command(reason: str | None, yes: bool) -> int:
    from worker.dead_letters import entries, purge

    ledger = _ledger()
    if not yes:
        click.confirm(f"Delete {len(entries(ledger, reason))} dead letters?", abort=True)
    print(f"purged {purge(ledger, reason)}")
    return EXIT_OK


def _ledger() -> Ledger:
    from worker.cli.client import client_settings

    return Ledger.from_url(client_settings().broker_url)


def _when(at: float | None) -> str:
    if at is None:
        return "?" * 20
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
