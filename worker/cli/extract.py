"""``palette extract``: palettes of local files, offline; the same document the worker stores."""

from __future__ import annotations

import contextlib
import glob
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from worker.cli.output import Progress, dump, error, format_csv, format_table, write_json
from worker.cli.params import KType
from worker.config import Settings
from worker.errors import InternalError, PaletteError, SourceMissing, TooLarge

if TYPE_CHECKING:
    from worker.palette.options import K

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parse_k(text: str) -> K:
    """``worker.palette.options.parse_k``, imported on use: the palette core (and
    scikit-learn with it) loads only when a command needs it, not for ``--help``."""
    from worker.palette.options import parse_k

    return parse_k(text)


@click.command(
    "extract", help="Palette of local image files, folders or globs; no services needed."
)
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "-k", "--k", "k", type=KType(_parse_k), default=None, help="Colours (default 5), or auto."
)
@click.option(
    "--color-space",
    default=None,
    help="Where to cluster: din99o (default), oklab, cielab, or rgb (the tutorial's method).",
)
@click.option(
    "--alpha-threshold", type=int, default=None, help="Pixels below this alpha are ignored."
)
@click.option(
    "--json", "json_path", type=click.Path(path_type=Path), help="Also write the JSON here."
)
@click.option("--bar", type=click.Path(path_type=Path), help="Write the 300x50 bar PNG here.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write every output of each file (bar PNG, JSON, ...) into this folder, named as "
    "the worker names them: <file name>.png, <file name>.json.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv", "table"]),
    default=None,
    help="stdout format (default: table on a terminal for several files, else json).",
)
def extract(
    paths: tuple[str, ...],
    k: int | str | None,
    color_space: str | None,
    alpha_threshold: int | None,
    json_path: Path | None,
    bar: Path | None,
    out_dir: Path | None,
    fmt: str | None,
) -> int:
    settings = Settings.from_env()
    files = expand(paths)
    if not files:
        error("no files match; give image files, folders or globs")
        return EXIT_USAGE
    options = _options(settings, k, color_space, alpha_threshold)
    progress = Progress.maybe(len(files), at_least=2)
    documents = []
    for path in files:
        bar_path = _bar_path(bar, path, len(files)) or _in_folder(out_dir, path)
        documents.append(doc := _extract_one(path, settings, options, bar_path))
        if out_dir is not None:
            _write_outputs(out_dir, path.name, doc)
        if progress:
            progress.step(path.name)
    if progress:
        progress.done()
    _emit(documents, fmt or _default_format(len(files)), json_path)
    return EXIT_FAILED if any(d["status"] != "done" for d in documents) else EXIT_OK


def _options(
    settings: Settings, k: int | str | None, color_space: str | None, alpha_threshold: int | None
) -> dict[str, Any]:
    options: dict[str, Any] = {"k": k if k is not None else settings.default_k}
    if color_space is not None:
        options["color_space"] = color_space
    if alpha_threshold is not None:
        options["alpha_threshold"] = alpha_threshold
    return options


def _default_format(count: int) -> str:
    return "table" if sys.stdout.isatty() and count > 1 else "json"


def _extract_one(
    path: Path, settings: Settings, options: dict[str, Any], bar_path: Path | None
) -> dict[str, Any]:
    """One file to one document; a bad file is reported on stderr and as a failed document."""
    from worker import document, outputs, palette

    source = document.source_ref(None, str(path), None, None)
    try:
        data = _read(path, settings.max_bytes)
        source["size"] = len(data)
        with _native_stderr_silenced():
            result = palette.extract(data, **settings.extract_limits, **options)
    except PaletteError as exc:
        error(f"{path}: {exc.code}: {exc.message}")
        return document.failed(source, exc, options)
    except Exception as exc:  # a bug of ours: still one line, still a failed document
        internal = InternalError(f"internal error ({type(exc).__name__}: {exc})")
        error(f"{path}: {internal.code}: {internal.message}; please report it")
        return document.failed(source, internal, options)
    bar_ref = None if bar_path is None else document.bar_ref(None, str(bar_path))
    doc = document.done(source, result, bar_ref, {})
    if bar_path is not None:
        _write(bar_path, outputs.BAR.render(doc))
    return doc


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


def expand(patterns: Sequence[str]) -> list[Path]:
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
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise TooLarge(f"file is {size} bytes, the limit is {max_bytes} (PALETTE_MAX_BYTES)")
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise SourceMissing(f"cannot read {path}: {exc.strerror}") from exc


def _bar_path(target: Path | None, source: Path, count: int) -> Path | None:
    """One --bar path for many inputs: insert the source's stem to keep them apart."""
    if target is None or count == 1:
        return target
    return target.with_name(f"{target.stem}-{source.stem}{target.suffix}")


def _in_folder(out_dir: Path | None, path: Path) -> Path | None:
    """Where ``--out`` puts the bar of ``path``, so the document names it."""
    from worker.outputs import BAR

    return None if out_dir is None else out_dir / BAR.key(path.name)


def _write_outputs(out_dir: Path, name: str, doc: dict[str, Any]) -> None:
    """Every output of the document (``worker.outputs``), as the worker would store them
    for an image called ``name``: all of a done one, only the JSON of a failed one."""
    from worker.outputs import listed

    for output, key in listed(name, doc["status"]):
        _write(out_dir / key, output.render(doc))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _emit(documents: list[dict[str, Any]], fmt: str, json_path: Path | None) -> None:
    payload: object = documents[0] if len(documents) == 1 else documents
    if json_path:
        _write(json_path, dump(payload))
    if fmt == "table":
        print("\n\n".join(format_table(doc) for doc in documents))
    elif fmt == "csv":
        sys.stdout.write(format_csv(documents))
    else:
        write_json(payload)
