"""Flat graphics: does every colour come back? Ours vs the tutorial's method vs Pylette.

Run:  .venv/bin/python benchmarks/bench_flat.py [--images 1000] [--before /work/baseline]

Images: ``benchmarks/flat_images.py`` (stripes, rectangles or anti-aliased discs, 2-12
colours pairwise >= ΔE00 15 apart, every share >= 3 %), each seed saved as PNG and as
JPEG q85; k = the number of colours drawn. For each true colour, the ΔE00 (scikit-image)
to the nearest returned colour: **found** <= 2 (indistinguishable at a glance), **near
miss** 2-5, **gross miss** > 5 (the colour is lost). ms: median wall time per image,
bytes in, palette out (decode included). Then two named cases: the k=10 palette of five
noisy stripes (σ=10) and issue 13's five-stripe JPEG seeds.

``--before ROOT`` also runs the ``extract`` of another checkout (e.g. ``/work/baseline``,
with its own ``.venv``) in a child process fed the same bytes, interleaved image by image
with ours, so before and after share one run and one machine load.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from worker.palette.options import K

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__" and "--child" in sys.argv:  # the child imports the other checkout
    sys.path.insert(0, sys.argv[sys.argv.index("--child") + 1])
elif str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FOUND, GROSS = 2.0, 5.0
NAMED_SEEDS = (38, 62, 130, 182, 298)
"""Issue 13's five-stripe JPEGs on which the core lost a colour."""

Method = Callable[[bytes, int], np.ndarray]
"""Image bytes and k → (m, 3) returned colours."""


def ours(data: bytes, k: K) -> np.ndarray:
    from worker.palette import extract

    return np.array([c["rgb"] for c in extract(data, k)["colors"]], dtype=np.uint8)


def tutorial(data: bytes, k: int) -> np.ndarray:
    """The original tutorial: ``KMeans(n_clusters=k)`` on every pixel, in RGB."""
    from sklearn.cluster import KMeans

    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).reshape(-1, 3)
    centres = KMeans(n_clusters=k, random_state=0).fit(pixels).cluster_centers_
    return np.clip(np.rint(centres), 0, 255).astype(np.uint8)


def pylette(data: bytes, k: int) -> np.ndarray:
    from pylette import extract_colors

    palette = extract_colors(data, palette_size=k, mode="KMeans")
    return np.array([c.rgb for c in palette.colors], dtype=np.uint8)


class Before:
    """``extract`` of another checkout, in a child process running that checkout's venv."""

    def __init__(self, root: Path) -> None:
        python = root / ".venv" / "bin" / "python"
        self.process = subprocess.Popen(
            [str(python), __file__, "--child", str(root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def __call__(self, data: bytes, k: int) -> np.ndarray:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(struct.pack("<II", k, len(data)) + data)
        self.process.stdin.flush()
        reply = json.loads(self.process.stdout.readline())
        self.last_ms = float(reply["ms"])
        return np.array(reply["rgb"], dtype=np.uint8).reshape(-1, 3)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=10)


def serve_child(stdin: BinaryIO) -> None:
    """The child's loop: (k, length, bytes) in, one JSON line (colours, ms) out."""
    from worker.palette import extract

    while header := stdin.read(8):
        k, length = struct.unpack("<II", header)
        data = stdin.read(length)
        started = time.perf_counter()
        colours = [c["rgb"] for c in extract(data, k)["colors"]]
        ms = (time.perf_counter() - started) * 1000.0
        print(json.dumps({"rgb": colours, "ms": ms}), flush=True)


@dataclass
class Tally:
    """One method's results over a set of images."""

    colours: int = 0
    found: int = 0
    near: int = 0
    gross: int = 0
    images_with_gross: int = 0
    worst: float = 0.0
    ms: list[float] = field(default_factory=list)

    def add(self, distances: np.ndarray, ms: float) -> None:
        self.colours += len(distances)
        self.found += int(np.sum(distances <= FOUND))
        self.near += int(np.sum((distances > FOUND) & (distances <= GROSS)))
        gross = int(np.sum(distances > GROSS))
        self.gross += gross
        self.images_with_gross += gross > 0
        self.worst = max(self.worst, float(distances.max()))
        self.ms.append(ms)


def timed(method: Method, data: bytes, k: int) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    colours = method(data, k)
    ms = (time.perf_counter() - started) * 1000.0
    return colours, method.last_ms if isinstance(method, Before) else ms


def run_flat(methods: dict[str, Method], images: int, first_seed: int, with_auto: bool) -> None:
    from benchmarks.flat_images import flat_image, worst_matches

    tallies = {(fmt, name): Tally() for fmt in ("PNG", "JPEG") for name in methods}
    auto: dict[str, list[int]] = {"PNG": [], "JPEG": []}
    for seed in range(first_seed, first_seed + images):
        for fmt in ("PNG", "JPEG"):
            image = flat_image(seed, fmt)
            k = len(image.colours)
            for name, method in methods.items():
                colours, ms = timed(method, image.data, k)
                tallies[fmt, name].add(worst_matches(image.colours, colours), ms)
            if with_auto:
                auto[fmt].append(len(ours(image.data, "auto")) - k)
    print(f"\n### flat graphics: {images} images per format (seeds {first_seed}-"
          f"{first_seed + images - 1}), 2-12 colours, k = colours drawn\n")  # fmt: skip
    print(f"found: nearest returned colour within ΔE00 {FOUND}; near miss {FOUND}-{GROSS}; "
          f"gross miss > {GROSS}\n")  # fmt: skip
    print("| format | method | true colours | found | near misses | gross misses "
          "| images with a gross miss | worst ΔE00 | ms (median) | ms (p95) |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (fmt, name), t in tallies.items():
        p95 = float(np.percentile(t.ms, 95))
        print(
            f"| {fmt} | {name} | {t.colours} | {t.found / t.colours:.2%} | {t.near} | {t.gross} "
            f"| {t.images_with_gross} | {t.worst:.1f} | {statistics.median(t.ms):.1f} "
            f"| {p95:.1f} |"
        )
    if with_auto:
        print_auto(auto)


def print_auto(auto: dict[str, list[int]]) -> None:
    """How often ours with k="auto" returns exactly the colours drawn."""
    print('\n### ours with k="auto" on the same images: colours returned - colours drawn\n')
    print("| format | exactly | fewer | more | mean difference |")
    print("|---|---:|---:|---:|---:|")
    for fmt, diffs in auto.items():
        d = np.array(diffs)
        print(f"| {fmt} | {np.mean(d == 0):.1%} | {np.mean(d < 0):.1%} | {np.mean(d > 0):.1%} "
              f"| {d.mean():+.2f} |")  # fmt: skip


def run_named(methods: dict[str, Method], noisy_seeds: int) -> None:
    from benchmarks.flat_images import noisy_image, worst_matches

    print("\n### named cases: worst true colour, ΔE00 to the nearest returned one\n")
    print("| case | " + " | ".join(methods) + " |")
    print("|---|" + "---:|" * len(methods))
    worst = dict.fromkeys(methods, 0.0)
    for seed in range(noisy_seeds):
        image = noisy_image(seed)
        for name, method in methods.items():
            distances = worst_matches(image.colours, timed(method, image.data, 10)[0])
            worst[name] = max(worst[name], float(distances.max()))
    cells = " | ".join(f"{worst[name]:.2f}" for name in methods)
    print(f"| 5 noisy stripes (σ=10), k=10, worst of {noisy_seeds} seeds | {cells} |")
    for seed in NAMED_SEEDS:
        data, truth = five_stripes(seed)
        cells = " | ".join(
            f"{worst_matches(truth, timed(m, data, 5)[0]).max():.2f}" for m in methods.values()
        )
        print(f"| five stripes JPEG q85, seed {seed}, k=5 | {cells} |")


def five_stripes(seed: int) -> tuple[bytes, np.ndarray]:
    """Issue 13's reproduction image (``/work/shared/repro/five_stripes.py``), verbatim."""
    from benchmarks.flat_images import ciede2000, srgb8_to_lab

    rng = np.random.default_rng(seed)
    cols: list[np.ndarray] = []
    while len(cols) < 5:
        c = rng.integers(20, 236, size=3)
        if all(float(ciede2000(srgb8_to_lab(c), srgb8_to_lab(o))) > 20 for o in cols):
            cols.append(c)
    w = rng.uniform(1, 3, size=5)
    props = np.sort(0.06 + (1 - 0.3) * w / w.sum())[::-1]
    ends = np.round(np.cumsum(props) * 400).astype(int)
    img = np.zeros((400, 500, 3), np.uint8)
    start = 0
    for c, end in zip(cols, ends, strict=True):
        img[start:end] = c
        start = end
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, "JPEG", quality=85)
    return buffer.getvalue(), np.array(cols, dtype=np.uint8)


def choose_methods(names: list[str], before: Path | None) -> dict[str, Method]:
    available: dict[str, Method] = {"ours": ours, "tutorial": tutorial, "pylette": pylette}
    methods: dict[str, Method] = {}
    if before is not None:
        methods["ours (before)"] = Before(before)
    for name in names:
        if name == "pylette":
            try:
                __import__("pylette")
            except ImportError as exc:
                print(f"skipped pylette: {exc} (make bench installs it)")
                continue
        methods[name] = available[name]
    return methods


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000, help="seeds per format")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--methods", default="ours,tutorial,pylette")
    parser.add_argument("--before", type=Path, help="another checkout whose extract to compare")
    parser.add_argument("--noisy-seeds", type=int, default=20)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        serve_child(sys.stdin.buffer)
        return
    methods = choose_methods(args.methods.split(","), args.before)
    print(f"python {sys.version.split()[0]}, command: {' '.join(sys.argv)}")
    try:
        run_flat(methods, args.images, args.first_seed, "ours" in methods)
        run_named(methods, args.noisy_seeds)
    finally:
        for method in methods.values():
            if isinstance(method, Before):
                method.close()


if __name__ == "__main__":
    main()
