"""The worst images an uploader can send the decoder: peak memory and time per job.

Run:  .venv/bin/python benchmarks/bench_decode_worst.py [--before /work/baseline]

Cases (each built in memory, byte for byte the same for every checkout):

- ``png-100mp``: a ~0.3 MB PNG declaring 10000x10000 RGB (100 Mpx, the largest
  ``PALETTE_MAX_PIXELS`` admits): decoded whole, it takes ~290 MiB of pixels;
- ``png-in-budget``: the largest RGB PNG square under the default decode budget
  (6400x6400, 117 MiB decoded): what an admitted job may cost;
- ``icc-32x12mib``: 32 small JPEGs, each with its own 12 MiB ICC profile (not sRGB, so
  a transform is built), decoded one after another by one process: what a transform
  cache keyed by the profile's bytes keeps.

Each case runs ``worker.palette.extract`` with the default ``Settings`` limits in a fresh
child process, after a warm-up. **peak MiB** is the child's peak resident size during the
case minus its resident size just before (the kernel's VmHWM, reset through
``/proc/self/clear_refs``), input bytes included; **s** is wall time. ``--before ROOT``
runs the same cases with another checkout (its ``.venv`` if it has one), case by case
next to ours, so both share one machine load.
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CASES = ("png-100mp", "png-in-budget", "icc-32x12mib")
ICC_IMAGES, ICC_BYTES = 32, 12 * 1024 * 1024


def _chunk(kind: bytes, data: bytes = b"") -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def stripes_png(side: int) -> bytes:
    """RGB stripes, built row by row so no process ever holds the raw pixels."""
    colours = [(200, 30, 30), (20, 90, 200), (240, 200, 40), (30, 140, 60)]
    row = b"\x00" + b"".join(bytes(colours[(x * 4) // side]) for x in range(side))
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND")


def big_profile(n: int) -> bytes:
    """LittleCMS's sRGB profile renamed (so nothing skips it), padded to 12 MiB with
    bytes that differ per ``n``: a valid profile no cache has seen."""
    from PIL import ImageCms

    base = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    base = base.replace(b"s\x00R\x00G\x00B", b"x\x00R\x00G\x00B", 1)
    return struct.pack(">I", ICC_BYTES) + base[4:] + bytes([n % 251]) * (ICC_BYTES - len(base))


def jpeg_with_profile(n: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30 + n, 30)).save(out, "JPEG", icc_profile=big_profile(n))
    return out.getvalue()


def inputs(case: str) -> list[bytes]:
    if case == "png-100mp":
        return [stripes_png(10_000)]
    if case == "png-in-budget":
        return [stripes_png(6_400)]
    return [jpeg_with_profile(n) for n in range(ICC_IMAGES)]


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(case: str) -> dict[str, Any]:
    """In the child: warm up, build the inputs, reset the peak, run the case."""
    import inspect

    import worker
    from worker.config import Settings
    from worker.errors import PaletteError
    from worker.palette import extract

    settings = Settings()
    limits: dict[str, Any] = {"max_bytes": settings.max_bytes, "max_pixels": settings.max_pixels}
    if "max_decode_bytes" in inspect.signature(extract).parameters:
        limits["max_decode_bytes"] = settings.decode_budget_mb * 1024 * 1024
    extract(stripes_png(64), **limits)  # imports and first-call set-up out of the figure
    datas = inputs(case)
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = _status_kib("VmRSS")
    outcomes: list[str] = []
    started = time.perf_counter()
    for data in datas:
        try:
            extract(data, **limits)
            outcomes.append("done")
        except PaletteError as exc:
            outcomes.append(exc.code)
    seconds = time.perf_counter() - started
    peak = _status_kib("VmHWM") - before
    return {
        "module": str(Path(worker.__file__).parent.parent),
        "bytes": sum(map(len, datas)) // len(datas),
        "outcome": ",".join(sorted(set(outcomes))),
        "peak_mib": peak / 1024,
        "seconds": seconds,
    }


def run_case(case: str, root: Path) -> dict[str, Any]:
    venv = root / ".venv" / "bin" / "python"
    python = str(venv) if venv.exists() else sys.executable
    command = [python, str(Path(__file__).resolve()), "--child", case, "--root", str(root)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(result["module"]).resolve() != root.resolve():
        raise RuntimeError(f"the child imported {result['module']}, not {root}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="another checkout to run side by side")
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated subset")
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(args.root))
        print(json.dumps(child(args.child)))
        return 0
    trees = [("this", ROOT)] + ([("before", args.before)] if args.before else [])
    print(f"{'case':<14} {'tree':<7} {'input':>10} {'outcome':<10} {'peak MiB':>9} {'s':>7}")
    for case in args.cases.split(","):
        for name, root in trees:
            r = run_case(case, root)
            size = f"{r['bytes'] / 1e6:.2f} MB"
            print(
                f"{case:<14} {name:<7} {size:>10} {r['outcome']:<10} "
                f"{r['peak_mib']:>9.0f} {r['seconds']:>7.2f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
