"""``palette``: the command line. Each subcommand is config → clients → one call → output.

Errors reach the user as one line on stderr saying what happened and what to do,
never as a traceback; the exit code says whether everything succeeded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from worker.config import Settings
from worker.errors import PaletteError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except PaletteError as exc:
        _error(f"{exc.code}: {exc.message}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="palette", description="Colour palettes for images.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    extract = sub.add_parser("extract", help="palette of local image files, no services needed")
    extract.add_argument("paths", nargs="+", metavar="PATH")
    extract.add_argument("-k", type=int, default=None, help="colours (default PALETTE_DEFAULT_K=5)")
    extract.add_argument("--color-space", default="oklab", choices=["oklab", "lab", "rgb"])
    extract.add_argument("--json", type=Path, help="write the JSON document here")
    extract.add_argument("--bar", type=Path, help="write the 300x50 bar PNG here")
    extract.add_argument("--format", choices=["json", "table"], default=None)
    extract.set_defaults(run=_cmd_extract)

    stack = sub.add_parser("stack", help="run the whole stack natively (up|down|status|env)")
    stack.add_argument("stack_args", nargs=argparse.REMAINDER)
    stack.set_defaults(run=_cmd_stack)

    submit = sub.add_parser("submit", help="upload images to the input bucket and wait")
    submit.add_argument("paths", nargs="+", metavar="PATH")
    submit.add_argument("--prefix", default="", help="key prefix in the input bucket")
    submit.add_argument("--timeout", type=float, default=120.0)
    submit.add_argument("--format", choices=["json", "table"], default="table")
    submit.set_defaults(run=_cmd_submit)

    sweep = sub.add_parser("sweep", help="enqueue every image whose result is missing or stale")
    sweep.add_argument("--prefix", default="")
    sweep.set_defaults(run=_cmd_sweep)

    demo = sub.add_parser("demo", help="start the stack, submit the sample images, show results")
    demo.set_defaults(run=_cmd_demo)
    return parser


# --- extract ------------------------------------------------------------------------


def _cmd_extract(args: argparse.Namespace) -> int:
    from worker import document, palette, render

    settings = Settings.from_env()
    k = args.k if args.k is not None else settings.default_k
    fmt = args.format or ("table" if sys.stdout.isatty() and len(args.paths) > 1 else "json")
    failures = 0
    documents = []
    for path in _expand(args.paths):
        source = document.source_ref(None, str(path), None, None)
        try:
            data = _read(path, settings.max_bytes)
            source["size"] = len(data)
            result = palette.extract(
                data,
                k=k,
                color_space=args.color_space,
                max_bytes=settings.max_bytes,
                max_pixels=settings.max_pixels,
            )
        except PaletteError as exc:
            _error(f"{path}: {exc.code}: {exc.message}")
            documents.append(document.failed(source, exc, {"k": k}))
            failures += 1
            continue
        bar = render.bar_png(result["colors"], document.BAR_WIDTH, document.BAR_HEIGHT)
        if args.bar:
            _write(_numbered(args.bar, path, len(args.paths)), bar)
        bar_ref = document.bar_ref(None, str(args.bar)) if args.bar else None
        documents.append(document.done(source, result, bar_ref, {}))
    _emit(documents, fmt, args.json)
    return EXIT_FAILED if failures else EXIT_OK


def _expand(paths: Sequence[str]) -> list[Path]:
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file()))
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
    from worker import document

    payload = documents[0] if len(documents) == 1 else documents
    if json_path:
        _write(json_path, json.dumps(payload, indent=2, ensure_ascii=False).encode() + b"\n")
    if fmt == "table":
        for doc in documents:
            print(format_table(doc))
    else:
        sys.stdout.buffer.write(
            document.encode(payload) if isinstance(payload, dict) else _dump(payload)
        )


def _dump(payload: object) -> bytes:
    return json.dumps(payload, indent=2, ensure_ascii=False).encode() + b"\n"


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
    from worker.storage import S3Storage
    from worker.submit import submit_files

    settings = client_settings()
    storage = S3Storage(settings)
    documents = submit_files(storage, settings, _expand(args.paths), args.prefix, args.timeout)
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
    from worker.storage import S3Storage
    from worker.sweep import sweep

    settings = client_settings()
    report = sweep(S3Storage(settings), settings, Enqueuer(settings).enqueue, args.prefix)
    print(f"scanned {report.scanned}, enqueued {report.enqueued}, up to date {report.up_to_date}")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from infra import stack

    code = stack.main(["up"])
    if code != EXIT_OK:
        return code
    samples = Path(__file__).resolve().parent.parent / "docs" / "samples"
    start = time.perf_counter()
    code = main(["submit", "--prefix", "demo/", str(samples)])
    print(f"\n{time.perf_counter() - start:.1f} s for the round trip; the stack keeps running:")
    print("  palette stack status   |   palette stack env   |   palette stack down")
    return code


def _error(message: str) -> None:
    print(f"palette: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
