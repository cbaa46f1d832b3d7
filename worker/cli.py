"""``palette``: the command line. Each subcommand is config → clients → one call → output.

Errors reach the user as one line on stderr saying what happened and what to do,
never as a traceback; the exit code says whether everything succeeded.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import glob
import io
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from worker.config import Settings
from worker.errors import InternalError, PaletteError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except PaletteError as exc:
        _error(f"{exc.code}: {exc.message}{_hint(exc.code)}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # never a traceback: one line, and where to look
        _error(f"internal_error: {type(exc).__name__}: {exc} (please report it)")
        return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="palette", description="Colour palettes for images.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    extract = sub.add_parser(
        "extract",
        help="palette of local image files, folders or globs; no services needed",
        description="Prints the same JSON document the worker stores, offline.",
    )
    extract.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or globs")
    extract.add_argument("-k", "--k", type=int, default=None, help="colours (default 5)")
    extract.add_argument(
        "--color-space",
        default=None,
        help="where to cluster: din99o (default), oklab, cielab, or rgb (the tutorial's method)",
    )
    extract.add_argument(
        "--alpha-threshold", type=int, default=None, help="pixels below this alpha are ignored"
    )
    extract.add_argument("--json", type=Path, help="also write the JSON document(s) here")
    extract.add_argument("--bar", type=Path, help="write the 300x50 bar PNG here")
    extract.add_argument(
        "--format",
        choices=["json", "csv", "table"],
        default=None,
        help="stdout format (default: table on a terminal for several files, else json)",
    )
    extract.set_defaults(run=_cmd_extract)

    stack = sub.add_parser("stack", help="run the whole stack natively (up|down|status|env)")
    stack.add_argument("stack_args", nargs=argparse.REMAINDER)
    stack.set_defaults(run=_cmd_stack)

    submit = sub.add_parser("submit", help="upload images to the input bucket and wait")
    submit.add_argument("paths", nargs="+", metavar="PATH")
    submit.add_argument(
        "--prefix", default="", help="key prefix in the input bucket, as in S3 (cats/ → cats/a.jpg)"
    )
    submit.add_argument("--timeout", type=float, default=120.0)
    submit.add_argument("--format", choices=["json", "table"], default="table")
    submit.set_defaults(run=_cmd_submit)

    sweep = sub.add_parser("sweep", help="enqueue every image whose result is missing or stale")
    sweep.add_argument("--prefix", default="")
    sweep.set_defaults(run=_cmd_sweep)

    beat = sub.add_parser(
        "beat", help="run the periodic sweep's scheduler (exactly one per deployment)"
    )
    beat.add_argument("beat_args", nargs=argparse.REMAINDER)
    beat.set_defaults(run=_cmd_beat)

    demo = sub.add_parser("demo", help="start the stack, submit the sample images, show results")
    demo.set_defaults(run=_cmd_demo)
    return parser


# --- extract ------------------------------------------------------------------------


def _cmd_extract(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    paths = _expand(args.paths)
    if not paths:
        _error("no files match; give image files, folders or globs")
        return EXIT_USAGE
    options = _core_options(args, settings)
    fmt = args.format or ("table" if sys.stdout.isatty() and len(paths) > 1 else "json")
    progress = _Progress(len(paths)) if len(paths) > 1 and sys.stderr.isatty() else None
    documents = []
    for path in paths:
        documents.append(_extract_one(path, args, settings, options, len(paths)))
        if progress:
            progress.step(path.name)
    if progress:
        progress.done()
    _emit(documents, fmt, args.json)
    return EXIT_FAILED if any(d["status"] != "done" for d in documents) else EXIT_OK


def _core_options(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    options: dict[str, Any] = {"k": args.k if args.k is not None else settings.default_k}
    if args.color_space is not None:
        options["color_space"] = args.color_space
    if args.alpha_threshold is not None:
        options["alpha_threshold"] = args.alpha_threshold
    return options


def _extract_one(
    path: Path, args: argparse.Namespace, settings: Settings, options: dict[str, Any], count: int
) -> dict[str, Any]:
    """One file to one document; a bad file is reported on stderr and as a failed document."""
    from worker import document, palette
    from worker.palette import render

    source = document.source_ref(None, str(path), None, None)
    try:
        data = _read(path, settings.max_bytes)
        source["size"] = len(data)
        with _native_stderr_silenced():
            result = palette.extract(
                data, max_bytes=settings.max_bytes, max_pixels=settings.max_pixels, **options
            )
    except PaletteError as exc:
        _error(f"{path}: {exc.code}: {exc.message}")
        return document.failed(source, exc, options)
    except Exception as exc:  # a bug of ours: still one line, still a failed document
        error = InternalError(f"internal error ({type(exc).__name__}: {exc})")
        _error(f"{path}: {error.code}: {error.message}; please report it")
        return document.failed(source, error, options)
    bar_ref = None
    if args.bar:
        bar_path = _numbered(args.bar, path, count)
        _write(bar_path, render.bar_png(result["colors"], document.BAR_WIDTH, document.BAR_HEIGHT))
        bar_ref = document.bar_ref(None, str(bar_path))
    return document.done(source, result, bar_ref, {})


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Mute file descriptor 2 while C decoders run: libtiff prints its own warnings
    there, and a bad file must cost the user exactly one line (ours) on stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, total: int) -> None:
        self.total, self.count, self.started = total, 0, time.perf_counter()

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


def _expand(patterns: Sequence[str]) -> list[Path]:
    """Files, folders (recursively) and globs (for shells that do not expand them)."""
    found: list[Path] = []
    for raw in patterns:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        elif any(ch in raw for ch in "*?[") and not path.exists():
            found.extend(sorted(Path(p) for p in glob.glob(raw, recursive=True)))
        else:
            found.append(path)
    return found


def _read(path: Path, max_bytes: int) -> bytes:
    from worker.errors import SourceMissing, TooLarge

    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise TooLarge(f"file is {size} bytes, the limit is {max_bytes} (PALETTE_MAX_BYTES)")
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise SourceMissing(f"cannot read {path}: {exc.strerror}") from exc


def _numbered(target: Path, source: Path, count: int) -> Path:
    """One --bar path for many inputs: insert the source's stem to keep them apart."""
    if count == 1:
        return target
    return target.with_name(f"{target.stem}-{source.stem}{target.suffix}")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _emit(documents: list[dict[str, Any]], fmt: str, json_path: Path | None) -> None:
    payload: object = documents[0] if len(documents) == 1 else documents
    if json_path:
        _write(json_path, _dump(payload))
    if fmt == "table":
        print("\n\n".join(format_table(doc) for doc in documents))
    elif fmt == "csv":
        sys.stdout.write(format_csv(documents))
    else:
        sys.stdout.buffer.write(_dump(payload))
        sys.stdout.flush()


def _dump(payload: object) -> bytes:
    return json.dumps(payload, indent=2, ensure_ascii=False).encode() + b"\n"


def format_csv(documents: list[dict[str, Any]]) -> str:
    """One row per colour (failed files: one row with the error), for spreadsheets."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", "status", "rank", "hex", "r", "g", "b", "proportion", "name", "error"])
    for doc in documents:
        key = doc.get("source", {}).get("key", "")
        if doc.get("status") != "done":
            writer.writerow([key, doc.get("status"), "", "", "", "", "", "", "", _code(doc)])
            continue
        for rank, c in enumerate(doc["colors"], start=1):
            name = c.get("name", {}).get("css", "")
            writer.writerow([key, "done", rank, c["hex"], *c["rgb"], c["proportion"], name, ""])
    return out.getvalue()


def _code(doc: dict[str, Any]) -> str:
    return str(doc.get("error", {}).get("code", ""))


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


# --- stack, submit, sweep, demo -----------------------------------------------------


def _cmd_stack(args: argparse.Namespace) -> int:
    from infra import stack

    return stack.main(list(args.stack_args))


def client_settings() -> Settings:
    """Settings for a client: the environment, else the running native stack's."""
    env = dict(os.environ)
    if not env.get("PALETTE_S3_ENDPOINT"):
        from infra import stack

        env = {**stack.client_env(), **env}
    return Settings.from_env(env)


def _cmd_submit(args: argparse.Namespace) -> int:
    from worker.storage import make_storage
    from worker.submit import submit_files

    settings = client_settings()
    storage = make_storage(settings)
    paths = _expand(args.paths)
    progress = _Progress(len(paths)) if sys.stderr.isatty() else None
    on_result = progress.step if progress else None
    documents = submit_files(storage, settings, paths, args.prefix, args.timeout, on_result)
    if progress:
        progress.done()
    failed = [d for d in documents if d.get("status") != "done"]
    if args.format == "table":
        for doc in documents:
            print(format_table(doc))
            _print_locations(doc, settings)
    else:
        sys.stdout.buffer.write(_dump(documents))
    return EXIT_FAILED if failed else EXIT_OK


def _print_locations(doc: dict[str, Any], settings: Settings) -> None:
    key = doc.get("source", {}).get("key")
    if doc.get("status") == "pending" or not key:
        return
    from worker.jobs import result_keys

    json_key, png_key = result_keys(key)
    print(f"  json: s3://{settings.output_bucket}/{json_key}")
    if doc.get("status") == "done":
        print(f"  bar:  s3://{settings.output_bucket}/{png_key}")
    print(f"  api:  {settings.api_url}/palettes/{key}")


def _cmd_sweep(args: argparse.Namespace) -> int:
    from worker.enqueue import Enqueuer
    from worker.storage import make_storage
    from worker.sweep import sweep

    settings = client_settings()
    report = sweep(make_storage(settings), settings, Enqueuer(settings).enqueue, args.prefix)
    print(f"scanned {report.scanned}, enqueued {report.enqueued}, up to date {report.up_to_date}")
    return EXIT_OK


def _cmd_beat(args: argparse.Namespace) -> int:
    from worker import beat

    return beat.main(list(args.beat_args))


def _cmd_demo(args: argparse.Namespace) -> int:
    from infra import stack

    code = stack.main(["up"])
    if code != EXIT_OK:
        return code
    samples = Path(__file__).resolve().parent.parent / "docs" / "samples"
    start = time.perf_counter()
    code = main(["submit", "--prefix", "demo/", str(samples)])
    me = _command_name()
    print(f"\n{time.perf_counter() - start:.1f} s for the round trip; the stack keeps running:")
    print(f"  {me} stack status   |   {me} stack env   |   {me} stack down")
    return code


def _command_name() -> str:
    """How the user can call us again: ``palette`` if it is on PATH, else its full path."""
    import shutil

    found = shutil.which("palette")
    if found and Path(found).resolve() == Path(sys.argv[0]).resolve():
        return "palette"
    return os.path.relpath(sys.argv[0]) if sys.argv[0].endswith("palette") else "palette"


_HINTS = {
    "storage_unavailable": "is the object store up? `palette stack up` starts one, and "
    "`palette stack env` prints where clients point (PALETTE_S3_ENDPOINT, AWS_* keys)",
    "broker_unavailable": "is Redis up at PALETTE_BROKER_URL? `palette stack up` starts one",
    "invalid_options": "see `palette COMMAND --help` for the accepted values",
}


def _hint(code: str) -> str:
    """What to do next, for the failures a user can fix from here."""
    hint = _HINTS.get(code)
    return f" ({hint})" if hint else ""


def _error(message: str) -> None:
    """One line on stderr; an exception's text may quote a URL with its password."""
    from worker.redact import redact_text

    print(f"palette: {redact_text(message)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
