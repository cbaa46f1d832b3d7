"""What the command line prints: JSON, CSV and a small table, errors as one line.

Shared by every subcommand, so a result looks the same whether it came from
``palette extract`` (offline) or ``palette submit`` (through the deployed pipeline).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from typing import Any

HINTS = {
    "storage_unavailable": "is the object store up? `palette stack up` starts one, and "
    "`palette stack env` prints where clients point (PALETTE_S3_ENDPOINT, AWS_* keys)",
    "broker_unavailable": "is Redis up at PALETTE_BROKER_URL? `palette stack up` starts one",
    "invalid_options": "see `palette COMMAND --help` for the accepted values",
}
"""What to do next, for the failures a user can fix from where they are."""


def error(message: str) -> None:
    """One line on stderr, prefixed like every message of ours; an exception's text may
    quote a URL with its password, so it is redacted."""
    from worker.redact import redact_text

    print(f"palette: {redact_text(message)}", file=sys.stderr)


def hint(code: str) -> str:
    found = HINTS.get(code)
    return f" ({found})" if found else ""


def dump(payload: object) -> bytes:
    return json.dumps(payload, indent=2, ensure_ascii=False).encode() + b"\n"


def write_json(payload: object) -> None:
    sys.stdout.buffer.write(dump(payload))
    sys.stdout.flush()


def format_csv(documents: list[dict[str, Any]]) -> str:
    """One row per colour (failed files: one row with the error), for spreadsheets."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", "status", "rank", "hex", "r", "g", "b", "proportion", "name", "error"])
    for doc in documents:
        key = doc.get("source", {}).get("key", "")
        if doc.get("status") != "done":
            code = str(doc.get("error", {}).get("code", ""))
            writer.writerow([key, doc.get("status"), "", "", "", "", "", "", "", code])
            continue
        for rank, c in enumerate(doc["colors"], start=1):
            name = c.get("name", {}).get("css", "")
            writer.writerow([key, "done", rank, c["hex"], *c["rgb"], c["proportion"], name, ""])
    return out.getvalue()


def format_table(doc: dict[str, Any]) -> str:
    """A small human table: swatch (in a colour terminal), hex, share, name."""
    source = doc.get("source", {})
    title = source.get("key", "?")
    if doc.get("status") != "done":
        error = doc.get("error", {})
        return f"{title}: failed: {error.get('code')}: {error.get('message')}"
    colour = sys.stdout.isatty() and os.environ.get("NO_COLOR") is None
    lines = [f"{title}  ({source.get('format')} {source.get('width')}x{source.get('height')})"]
    for c in doc["colors"]:
        r, g, b = c["rgb"]
        swatch = f"\x1b[48;2;{r};{g};{b}m      \x1b[0m " if colour else ""
        name = c.get("name", {}).get("css", "")
        lines.append(f"  {swatch}{c['hex']}  {c['proportion'] * 100:6.2f} %  {name}")
    return "\n".join(lines)


class Progress:
    """A one-line progress bar on stderr; ``maybe`` gives one only when stderr is a terminal."""

    def __init__(self, total: int) -> None:
        self.total, self.count, self.started = total, 0, time.perf_counter()

    @classmethod
    def maybe(cls, total: int, at_least: int = 1) -> Progress | None:
        return cls(total) if total >= at_least and sys.stderr.isatty() else None

    def step(self, label: str) -> None:
        self.count += 1
        filled = int(24 * self.count / self.total)
        rate = self.count / max(time.perf_counter() - self.started, 1e-9)
        bar = "#" * filled + "." * (24 - filled)
        line = f"\r[{bar}] {self.count}/{self.total} {rate:5.1f}/s {label[:30]:<30}"
        sys.stderr.write(line)
        sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\n")
