"""``palette submit``, ``sweep`` and ``demo``: clients of a running deployment.

They find it through the environment (``PALETTE_S3_ENDPOINT`` and friends), else through
the native stack this user started (``palette stack env``).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from worker.cli.extract import expand
from worker.cli.output import Progress, format_table, write_json
from worker.cli.params import KType
from worker.config import Settings
from worker.upload_options import parse_upload_k

if TYPE_CHECKING:
    from worker.palette.options import K

EXIT_OK, EXIT_FAILED = 0, 1
SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


def client_settings() -> Settings:
    """Settings for a client: the environment, else the running native stack's."""
    env = dict(os.environ)
    if not env.get("PALETTE_S3_ENDPOINT"):
        from infra import stack

        env = {**stack.client_env(), **env}
    return Settings.from_env(env)


@click.command("submit", help="Upload images to the input bucket and wait for their results.")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "--prefix", default="", help="Key prefix in the input bucket, as in S3 (cats/ → cats/a.jpg)."
)
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds to wait.")
@click.option(
    "--format", "fmt", type=click.Choice(["json", "table"]), default="table", show_default=True
)
@click.option(
    "-k",
    "--k",
    "k",
    type=KType(parse_upload_k),  # checked before anything is uploaded
    default=None,
    help="Colours 1-32, or auto; sent as the upload's x-amz-meta-palette-k "
    "(default: the deployment's PALETTE_DEFAULT_K).",
)
def submit(paths: tuple[str, ...], prefix: str, timeout: float, fmt: str, k: K | None) -> int:
    return submit_and_show(expand(paths), prefix, timeout, fmt, k)


def submit_and_show(
    paths: list[Path], prefix: str, timeout: float, fmt: str, k: K | None = None
) -> int:
    from worker.storage import make_storage
    from worker.submit import submit_files

    settings = client_settings()
    progress = Progress.maybe(len(paths))
    on_result = progress.step if progress else None
    storage = make_storage(settings)
    documents = submit_files(storage, settings, paths, prefix, timeout, on_result, k)
    if progress:
        progress.done()
    if fmt == "table":
        for doc in documents:
            print(format_table(doc))
            _print_locations(doc, settings)
    else:
        write_json(documents)
    return EXIT_FAILED if any(d.get("status") != "done" for d in documents) else EXIT_OK


def _print_locations(doc: dict[str, Any], settings: Settings) -> None:
    from worker.outputs import listed

    key = doc.get("source", {}).get("key")
    if doc.get("status") == "pending" or not key:
        return
    for output, output_key in listed(key, str(doc.get("status"))):
        print(f"  {output.name + ':':<5} s3://{settings.output_bucket}/{output_key}")
    print(f"  api:  {settings.api_url}/palettes/{key}")


@click.command(
    "sweep",
    help="Enqueue every image whose result is missing or stale, and a removal for every "
    "deleted image whose results remain.",
)
@click.option("--prefix", default="", help="Only keys under this prefix.")
def sweep(prefix: str) -> int:
    from worker.enqueue import Enqueuer
    from worker.storage import make_storage
    from worker.sweep import sweep as sweep_bucket

    settings = client_settings()
    report = sweep_bucket(make_storage(settings), settings, Enqueuer(settings).enqueue, prefix)
    print(
        f"scanned {report.scanned}, enqueued {report.enqueued}, up to date {report.up_to_date},"
        f" removals {report.removed}"
    )
    return EXIT_OK


@click.command("demo", help="Start the stack, submit the sample images, show their results.")
def demo() -> int:
    from infra import cli as stack_cli
    from infra.state import default_stack_dir

    code = stack_cli.start(default_stack_dir())
    if code != EXIT_OK:
        return code
    start = time.perf_counter()
    code = submit_and_show(expand([str(SAMPLES)]), "demo/", 120.0, "table")
    me = _command_name()
    print(f"\n{time.perf_counter() - start:.1f} s for the round trip; the stack keeps running:")
    print(f"  {me} stack status   |   {me} stack env   |   {me} stack down")
    return code


def _command_name() -> str:
    """How the user can call us again: ``palette`` if it is on PATH, else its full path."""
    found = shutil.which("palette")
    if found and Path(found).resolve() == Path(sys.argv[0]).resolve():
        return "palette"
    return os.path.relpath(sys.argv[0]) if sys.argv[0].endswith("palette") else "palette"
