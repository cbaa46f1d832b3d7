"""Issue 3's benchmark: our palette vs the tutorial method vs the peers, on the corpus.

Run:  .venv/bin/python benchmarks/bench_palette.py [--quick] [--corpus DIR]
      .venv/bin/python benchmarks/bench_palette.py --vs-decode [--baseline ../other-checkout]

Prints, for k=5 and k=10, per method: median ms (in-process, file read + decode
included, one warm-up excluded, median of >= 3 runs, then median over photos), median
fit error (mean CIEDE2000 from a fixed seeded sample of 50,000 full-resolution pixels to
the nearest palette colour, palette rounded to integer sRGB, skimage as the reference
ΔE00), and the ratios to ours. Then the synthetic-truth table and the 12 MP row with
peak RSS measured in a fresh subprocess per method.

Peers are optional: a peer that cannot be imported is skipped with a note
(``pip install pylette fast-colorthief colorthief extcolors colorgram.py haishoku``).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from worker.palette.options import K

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_CORPUS = ROOT / "benchmarks" / "corpus"
TRUTH = ROOT / "tests" / "data" / "truth.json"
"""The synthetic images with a known answer (the unit tests' data)."""
FIT_SAMPLE = 50_000
LARGE = "large_china_4000x3000.jpg"

Palette = list[tuple[tuple[int, int, int], float | None]]
Method = Callable[[Path, int], Palette]


def _rgb(colour: Any) -> tuple[int, int, int]:
    """A peer's colour (a list, tuple or array; RGB first) as our palette's RGB triple."""
    red, green, blue = (int(channel) for channel in list(colour)[:3])
    return red, green, blue


# ---------------------------------------------------------------- methods


def ours(path: Path, k: int, **options: Any) -> Palette:
    from worker.palette import extract

    result = extract(path.read_bytes(), k, **options)
    return [(_rgb(c["rgb"]), c["proportion"]) for c in result["colors"]]


def ours_in(space: str) -> Method:
    """Our method with another clustering space (the measurement behind the default)."""
    return functools.partial(ours, color_space=space)


def tutorial(path: Path, k: int) -> Palette:
    """The original tutorial: KMeans(n_clusters=k) on every pixel, in RGB."""
    from sklearn.cluster import KMeans

    pixels = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
    model = KMeans(n_clusters=k).fit(pixels)
    counts = np.bincount(model.labels_, minlength=k) / len(pixels)
    centres = np.clip(np.rint(model.cluster_centers_), 0, 255).astype(int)
    return [(tuple(int(v) for v in c), float(s)) for c, s in zip(centres, counts, strict=True)]  # type: ignore[misc]


def pylette_kmeans(path: Path, k: int) -> Palette:
    from pylette import extract_colors

    palette = extract_colors(str(path), palette_size=k, mode="KMeans")
    return [(tuple(int(v) for v in c.rgb), float(c.frequency)) for c in palette.colors]  # type: ignore[misc]


def pylette_oklab(path: Path, k: int) -> Palette:
    from pylette import extract_colors

    palette = extract_colors(str(path), palette_size=k, mode="OKLab")
    return [(tuple(int(v) for v in c.rgb), float(c.frequency)) for c in palette.colors]  # type: ignore[misc]


def fast_colorthief_method(path: Path, k: int) -> Palette:
    import fast_colorthief

    return [(_rgb(c), None) for c in fast_colorthief.get_palette(str(path), color_count=k)]


def colorthief_method(path: Path, k: int) -> Palette:
    from colorthief import ColorThief

    return [(_rgb(c), None) for c in ColorThief(str(path)).get_palette(color_count=k)]


def extcolors_method(path: Path, k: int) -> Palette:
    import extcolors

    colors, total = extcolors.extract_from_path(str(path), limit=k)
    return [(_rgb(c), n / total) for c, n in colors]


def colorgram_method(path: Path, k: int) -> Palette:
    import colorgram

    return [(_rgb(c.rgb), float(c.proportion)) for c in colorgram.extract(str(path), k)]


def haishoku_method(path: Path, k: int) -> Palette:
    """Haishoku has no k: it returns its own (up to 8) colours."""
    from haishoku.haishoku import Haishoku

    return [(_rgb(c), float(s)) for s, c in Haishoku.getPalette(str(path))]


def pillow_full(path: Path, k: int) -> Palette:
    """The floor: read and fully decode the file, nothing else."""
    with Image.open(path) as im:
        im.load()
    return []


def pillow_draft(path: Path, k: int) -> Palette:
    """The floor with JPEG draft to our pixel budget (as ``worker.decode`` asks)."""
    from worker.palette.decode import draft_request
    from worker.palette.options import Options, draft_target

    with Image.open(path) as im:
        request = draft_request(im.size, draft_target(Options()))
        if request is not None and im.format == "JPEG":
            im.draft(None, request)
        im.load()
    return []


METHODS: dict[str, tuple[Method, str | None]] = {
    "ours (din99o)": (ours, None),
    "ours (oklab)": (ours_in("oklab"), None),
    "ours (cielab)": (ours_in("cielab"), None),
    "ours (rgb)": (ours_in("rgb"), None),
    "tutorial sklearn": (tutorial, None),
    "pylette KMeans": (pylette_kmeans, "pylette"),
    "pylette OKLab": (pylette_oklab, "pylette"),
    "fast-colorthief": (fast_colorthief_method, "fast_colorthief"),
    "colorthief": (colorthief_method, "colorthief"),
    "extcolors": (extcolors_method, "extcolors"),
    "colorgram.py": (colorgram_method, "colorgram"),
    "haishoku": (haishoku_method, "haishoku"),
    "pillow decode": (pillow_full, None),
    "pillow draft": (pillow_draft, None),
}
FLOORS = {"pillow decode", "pillow draft"}


def available_methods() -> tuple[dict[str, Method], list[str]]:
    """Methods whose module imports, and notes for the skipped ones."""
    found: dict[str, Method] = {}
    notes: list[str] = []
    for name, (method, module) in METHODS.items():
        if module is not None:
            try:
                __import__(module)
            except Exception as exc:  # any import failure skips the peer
                notes.append(f"skipped {name}: cannot import {module} ({exc})")
                continue
        found[name] = method
    return found, notes


# ---------------------------------------------------------------- measuring


def viewer_rgb(path: Path) -> np.ndarray:
    """Full-resolution (N, 4) RGBA as a colour-managed viewer shows it: embedded ICC → sRGB.

    Why: a palette's hex values are sRGB; for a file tagged e.g. Adobe RGB (rocket.jpg),
    the raw channel values are not the colours anybody sees. Pillow's LittleCMS does the
    conversion, independently of ``worker.decode``.
    """
    import io

    from PIL import ImageCms

    with Image.open(path) as im:
        icc = im.info.get("icc_profile")
        rgba = im.convert("RGBA")
    if icc:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        rgb = ImageCms.profileToProfile(
            rgba.convert("RGB"), source, ImageCms.createProfile("sRGB"), outputMode="RGB"
        )
        rgba = Image.merge("RGBA", (*rgb.split(), rgba.getchannel("A")))  # type: ignore[union-attr]
    return np.asarray(rgba).reshape(-1, 4)


def reference_lab(path: Path, seed: int = 0, *, managed: bool = True) -> np.ndarray:
    """CIELAB of a fixed random sample of full-resolution, non-transparent pixels.

    ``managed=False``: the raw channel values taken as sRGB (ICC profile ignored), the
    reference of the first version of this benchmark.
    """
    from skimage.color import rgb2lab

    if managed:
        rgba = viewer_rgb(path)
    else:
        with Image.open(path) as im:
            rgba = np.asarray(im.convert("RGBA")).reshape(-1, 4)
    opaque = rgba[rgba[:, 3] > 0, :3]
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(opaque), size=min(FIT_SAMPLE, len(opaque)), replace=False)
    return rgb2lab(opaque[np.sort(pick)][None, :, :].astype(np.float64) / 255.0)[0]


def fit_error(lab: np.ndarray, palette: Palette) -> float:
    """Mean ΔE00 from each reference pixel to its nearest palette colour."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    rgbs = np.array([c for c, _ in palette], dtype=np.float64) / 255.0
    pal_lab = rgb2lab(rgbs[None, :, :])[0]
    best = np.full(len(lab), np.inf)
    for colour in pal_lab:
        best = np.minimum(best, deltaE_ciede2000(lab, colour[None, :]))
    return float(best.mean())


def time_method(method: Method, path: Path, k: int, runs: int) -> tuple[float, Palette]:
    """Median wall ms of ``runs`` calls after one warm-up, and the last palette."""
    palette = method(path, k)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        palette = method(path, k)
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times), palette


def child_peak_rss(name: str, path: Path, k: int) -> tuple[float, float]:
    """(ms, peak RSS MiB) of one call in a fresh interpreter (imports done before timing)."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, str(path), str(k)],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return data["ms"], data["peak_mib"]


def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM). Not ``ru_maxrss``: that survives fork+exec, so a
    child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def run_child(name: str, path: Path, k: int) -> None:
    method = METHODS[name][0]
    module = METHODS[name][1]
    if module:
        __import__(module)
    import sklearn.cluster  # noqa: F401  imports are not what we measure

    import worker.palette  # noqa: F401

    started = time.perf_counter()
    method(path, k)
    ms = (time.perf_counter() - started) * 1000.0
    peak = peak_rss_mib()
    print(json.dumps({"ms": ms, "peak_mib": peak}))


# ---------------------------------------------------------------- tables


def photos(corpus: Path, quick: bool) -> list[Path]:
    manifest = json.loads((corpus / "manifest.json").read_text())
    files = [corpus / e["file"] for e in manifest if e["role"] == "photo"]
    return files[:3] if quick else files


Labs = dict[Path, tuple[np.ndarray, np.ndarray]]
"""Per photo: (colour-managed reference Lab, raw-values reference Lab)."""


def method_table(
    methods: dict[str, Method], files: list[Path], k: int, runs: int, labs: Labs
) -> None:
    rows: dict[str, tuple[float, float, float, bool]] = {}
    for name, method in methods.items():
        times, fits, raws, shares = [], [], [], True
        for path in files:
            ms, palette = time_method(method, path, k, runs)
            times.append(ms)
            if palette:
                fits.append(fit_error(labs[path][0], palette))
                raws.append(fit_error(labs[path][1], palette))
                shares = shares and all(s is not None for _, s in palette)
        fit = statistics.median(fits) if fits else float("nan")
        raw = statistics.median(raws) if raws else float("nan")
        rows[name] = (statistics.median(times), fit, raw, shares and bool(fits))
    print_method_rows(rows, k, len(files), runs)


def print_method_rows(
    rows: dict[str, tuple[float, float, float, bool]], k: int, photos: int, runs: int
) -> None:
    base_ms, base_fit, base_raw, _ = rows["ours (din99o)"]
    print(f"\n### k={k}: medians over {photos} JPEG photos, {runs} runs each\n")
    print("fit = mean ΔE00 to the colour-managed pixels (what a viewer shows); "
          "raw fit = to the raw channel values, ICC profile ignored\n")  # fmt: skip
    print("| method | ms | fit ΔE00 | raw fit | ms / ours | fit / ours | raw / ours | shares |")
    print("|---|---:|---:|---:|---:|---:|---:|:---:|")
    for name, (ms, fit, raw, shares) in rows.items():
        if name in FLOORS:
            print(f"| {name} | {ms:.1f} | - | - | {ms / base_ms:.2f} | - | - | - |")
            continue
        flag = "yes" if shares else "no"
        print(
            f"| {name} | {ms:.1f} | {fit:.2f} | {raw:.2f} | {ms / base_ms:.2f} "
            f"| {fit / base_fit:.2f} | {raw / base_raw:.2f} | {flag} |"
        )


def share_table(files: list[Path], k: int) -> None:
    """How far our shares (from the JPEG draft) are from the full-resolution truth.

    Truth: every full-resolution, colour-managed pixel assigned to the nearest colour of
    our palette by the rule ``extract`` uses (nearest in the clustering space).
    """
    from worker.palette import extract, spaces
    from worker.palette.cluster import nearest
    from worker.palette.options import Options

    print(f"\n### share accuracy (ours, k={k}): draft-decoded vs every full-res pixel\n")
    print("| photo | draft scale | pixels counted | max share error (pp) | mean (pp) |")
    print("|---|---:|---:|---:|---:|")
    space = spaces.get(Options().color_space)
    for path in files:
        result = extract(path.read_bytes(), k)
        rgbs = np.array([c["rgb"] for c in result["colors"]], dtype=np.float64)
        got = np.array([c["proportion"] for c in result["colors"]])
        full = viewer_rgb(path)[:, :3]
        distinct, inverse = np.unique(full, axis=0, return_inverse=True)
        labels = nearest(space.from_srgb(distinct.astype(np.float64)), space.from_srgb(rgbs))
        truth = np.bincount(labels[inverse.ravel()], minlength=len(rgbs)) / len(full)
        error = np.abs(got - truth) * 100
        px = result["pixels"]
        print(
            f"| {path.name} | 1/{px['draft_scale']} | {px['counted']} "
            f"| {error.max():.2f} | {error.mean():.2f} |"
        )


CURVE: dict[str, dict[str, Any]] = {
    "default": {},
    "no Weiszfeld": {"refine_iters": 0},
    "1 Weiszfeld step": {"refine_iters": 1},
    "2 Weiszfeld steps": {"refine_iters": 2},
    "Lloyd max_iter 5": {"max_iter": 5},
    "Lloyd max_iter 20": {"max_iter": 20},
    "n_init 3": {"n_init": 3},
}  # fmt: skip
"""Option sets of ours for the speed/fit curve (``--curve``)."""


def curve_table(files: list[Path], runs: int, labs: Labs) -> None:
    """Our speed vs fit trade-off: the default against single-option changes."""
    print(f"\n### speed/fit curve of ours: medians over {len(files)} photos\n")
    print("| variant | ms k=5 | fit k=5 | ms k=10 | fit k=10 |")
    print("|---|---:|---:|---:|---:|")
    for label, options in CURVE.items():
        method = functools.partial(ours, **options)
        cells = []
        for k in (5, 10):
            timed = [time_method(method, path, k, runs) for path in files]
            fits = [fit_error(labs[path][0], p) for path, (_, p) in zip(files, timed, strict=True)]
            cells += [statistics.median(ms for ms, _ in timed), statistics.median(fits)]
        print(f"| {label} | {cells[0]:.1f} | {cells[1]:.2f} | {cells[2]:.1f} | {cells[3]:.2f} |")


STEPS = {
    "worker.palette.decode": ["decode"],
    "worker.palette.quantize": ["sample_pixels", "quantize_indexed"],
    "worker.palette.auto": ["choose_k"],
    "worker.palette.fit": ["kmeans_centres", "merge_close", "fit_error"],
    "worker.palette.counting": ["exact_counts"],
    "worker.palette.describe": ["describe_colors"],
    "worker.palette.cluster": ["kmeans_plusplus", "lloyd", "weiszfeld", "swap_pass"],
}
"""The steps ``--profile`` times (cluster's are inside ``kmeans_centres``)."""


def profile_table(files: list[Path], k: K, runs: int) -> None:
    """Mean ms per call of each step of ``extract``, by wrapping the functions wherever
    a core module refers to them (modules import each other's functions by name)."""
    from worker import palette

    spent: dict[str, float] = {}
    originals = _wrap_steps(spent)
    try:
        images = [path.read_bytes() for path in files]
        for data in images:  # warm-up, not counted
            palette.extract(data, k)
        spent.clear()
        calls, total = 0, 0.0
        for data in images:
            for _ in range(runs):
                started = time.perf_counter()
                palette.extract(data, k)
                total += time.perf_counter() - started
                calls += 1
    finally:
        for module, name, original in reversed(originals):
            setattr(module, name, original)
    print(f"\n### where the time goes (ours, k={k}): mean ms per image over {len(files)} "
          f"photos x {runs} runs\n")  # fmt: skip
    print("| step | ms | share |")
    print("|---|---:|---:|")
    print(f"| extract, total | {total / calls * 1000:.2f} | 100 % |")
    for name, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        inner = "  (in kmeans_centres)" if name in STEPS["worker.palette.cluster"] else ""
        share = seconds / total * 100
        print(f"| {name}{inner} | {seconds / calls * 1000:.2f} | {share:.0f} % |")


def _wrap_steps(spent: dict[str, float]) -> list[tuple[Any, str, Any]]:
    import importlib

    parts = ("decode", "quantize", "auto", "fit", "counting", "describe", "cluster", "pipeline")
    modules = [importlib.import_module(f"worker.palette.{part}") for part in parts]
    originals = []
    for module_name, names in STEPS.items():
        for name in names:
            function = getattr(importlib.import_module(module_name), name)
            wrapped = _timed(function, name, spent)
            for module in modules:
                if getattr(module, name, None) is function:
                    originals.append((module, name, function))
                    setattr(module, name, wrapped)
    return originals


def _timed(function: Callable[..., Any], name: str, spent: dict[str, float]) -> Any:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

    return wrapper


def synthetic_table() -> None:
    from skimage.color import deltaE_ciede2000, rgb2lab

    from worker.palette import extract

    manifest = json.loads(TRUTH.read_text())
    print("\n### synthetic truth (ours, k=5): worst colour per image\n")
    print("| image | k returned | max ΔE00 to truth | max share error (pp) | transparent |")
    print("|---|---:|---:|---:|---:|")
    for name, entry in manifest.items():
        truth = entry["truth"]
        if not truth:
            continue
        result = extract((TRUTH.parent / name).read_bytes(), 5)
        got = np.array([c["rgb"] for c in result["colors"]], dtype=np.float64) / 255.0
        shares = np.array([c["proportion"] for c in result["colors"]])
        true = np.array(truth["colours"], dtype=np.float64) / 255.0
        d = deltaE_ciede2000(rgb2lab(true[None])[0][:, None, :], rgb2lab(got[None])[0][None])
        match = d.argmin(axis=1)
        worst_de = float(d.min(axis=1).max())
        worst_share = float(np.abs(shares[match] - np.array(truth["props"])).max() * 100)
        px = result["pixels"]
        transparent = px["ignored_transparent"] / px["sampled"]
        print(f"| {name} | {len(got)} | {worst_de:.2f} | {worst_share:.2f} | {transparent:.3f} |")


def large_table(methods: dict[str, Method], corpus: Path, k: int, runs: int, quick: bool) -> None:
    path = large_jpeg(corpus)
    print(f"\n### 12 MP JPEG ({LARGE}), k={k}\n")
    print("| method | median ms (in-process) | fresh-process ms | peak RSS MiB |")
    print("|---|---:|---:|---:|")
    for name, method in methods.items():
        slow = name in {"tutorial sklearn", "colorthief", "haishoku", "colorgram.py", "extcolors"}
        if quick and slow:
            continue
        ms = time_method(method, path, k, 1 if slow else runs)[0]
        child_ms, peak = child_peak_rss(name, path, k)
        print(f"| {name} | {ms:.1f} | {child_ms:.1f} | {peak:.0f} |")


def auto_table(files: list[Path], runs: int) -> None:
    """What k="auto" costs next to k=5 and k=10, and what it chooses, photo by photo.

    Each call is timed alternately (k=5, k=10, auto, ...) so machine load hits all alike.
    """
    from worker.palette import extract

    print(f"\n### k=auto on the {len(files)} photos: median ms of {runs} alternating runs\n")
    print("| photo | ms k=5 | ms k=10 | ms auto | auto / k=5 | k chosen | fit auto | fit k=5 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    ratios = []
    for path in files:
        data = path.read_bytes()
        times: dict[object, list[float]] = {5: [], 10: [], "auto": []}
        results: dict[object, dict[str, Any]] = {}
        for _ in range(runs + 1):
            for k in times:
                started = time.perf_counter()
                results[k] = extract(data, k)  # type: ignore[arg-type]
                times[k].append((time.perf_counter() - started) * 1000.0)
        ms = {k: statistics.median(t[1:]) for k, t in times.items()}
        ratios.append(ms["auto"] / ms[5])
        quality = results["auto"]["quality"]
        print(f"| {path.name} | {ms[5]:.1f} | {ms[10]:.1f} | {ms['auto']:.1f} "
              f"| {ratios[-1]:.2f} | {quality['k_returned']} | {quality['fit_error_de00']:.2f} "
              f"| {results[5]['quality']['fit_error_de00']:.2f} |")  # fmt: skip
    print(f"\nmedian auto / k=5: {statistics.median(ratios):.2f} "
          f"(range {min(ratios):.2f}-{max(ratios):.2f})")  # fmt: skip


def vs_decode_child(root: Path) -> None:
    """Serve timings: for each "<path> <k>" line on stdin, print the thread-CPU ms of
    ``extract`` (of the checkout at ``root``) and of a full Pillow decode of that file."""
    import io

    sys.path.insert(0, str(root))
    from worker.palette import extract

    for line in sys.stdin:
        name, k = line.split()
        data = Path(name).read_bytes()
        started = time.thread_time()
        extract(data, int(k))
        middle = time.thread_time()
        with Image.open(io.BytesIO(data)) as im:
            im.load()
        ended = time.thread_time()
        print(json.dumps([(middle - started) * 1e3, (ended - middle) * 1e3]), flush=True)


def vs_decode_table(corpus: Path, runs: int, baseline: Path | None) -> None:
    """The core's CPU ÷ a full Pillow decode's, per photo. With ``baseline`` (another
    checkout) each call alternates between two long-lived child processes, so load and
    cache effects hit both alike; the first call of each photo and k is a warm-up."""
    roots = {"this": ROOT} | ({"baseline": baseline.resolve()} if baseline else {})
    children = {
        name: subprocess.Popen([sys.executable, __file__, "--vs-decode-child", str(root)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for name, root in roots.items()
    }  # fmt: skip
    found: dict[str, dict[tuple[str, int], list[list[float]]]] = {n: {} for n in roots}
    try:
        for path in photos(corpus, False):
            for k in (5, 10):
                for run in range(runs + 1):
                    for name, child in children.items():
                        measured = _ask(child, f"{path} {k}")
                        if run:
                            found[name].setdefault((path.name, k), []).append(measured)
    finally:
        for child in children.values():
            child.communicate()
    print(f"\n### core vs full Pillow decode: thread CPU ms per photo (median of {runs} "
          "alternating calls), medians over the photos; ratio = core / decode\n")  # fmt: skip
    print("| checkout | k | core ms | decode ms | median ratio | worst ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rows in found.items():
        for k in (5, 10):
            print_vs_decode_row(name, k, {key: v for key, v in rows.items() if key[1] == k})


def _ask(child: subprocess.Popen[str], request: str) -> list[float]:
    assert child.stdin is not None
    assert child.stdout is not None
    child.stdin.write(request + "\n")
    child.stdin.flush()
    answer: list[float] = json.loads(child.stdout.readline())
    return answer


def print_vs_decode_row(name: str, k: int, rows: dict[tuple[str, int], list[list[float]]]) -> None:
    core = [statistics.median(m[0] for m in measured) for measured in rows.values()]
    floor = [statistics.median(m[1] for m in measured) for measured in rows.values()]
    ratios = [c / f for c, f in zip(core, floor, strict=True)]
    print(f"| {name} | {k} | {statistics.median(core):.2f} | {statistics.median(floor):.2f} "
          f"| {statistics.median(ratios):.2f} | {max(ratios):.2f} |")  # fmt: skip


def large_jpeg(corpus: Path) -> Path:
    """The 12 MP JPEG: from the corpus if it has one, else made once from china.jpg
    (centre-cropped to 4:3, Lanczos-upscaled to 4000x3000, JPEG q90) in a cache directory.
    """
    if (corpus / LARGE).is_file():
        return corpus / LARGE
    import os

    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "palette-worker"
    path = cache / LARGE
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        with Image.open(corpus / "china.jpg") as im:
            width = round(im.height * 4 / 3)
            left = (im.width - width) // 2
            big = im.crop((left, 0, left + width, im.height)).resize(
                (4000, 3000), Image.Resampling.LANCZOS
            )
        big.save(path.with_suffix(".tmp"), "JPEG", quality=90)
        path.with_suffix(".tmp").replace(path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 photos, 3 runs, skip slow 12 MP")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated method names to run")
    parser.add_argument("--curve", action="store_true", help="also print our speed/fit curve")
    parser.add_argument(
        "--profile", action="store_true", help="only print where our time goes, step by step"
    )
    parser.add_argument("--auto", action="store_true", help='only print k="auto" vs k=5/10')
    parser.add_argument(
        "--vs-decode", action="store_true", help="only print the core's CPU / a full decode's"
    )
    parser.add_argument("--baseline", type=Path, help="--vs-decode: also this other checkout")
    parser.add_argument("--child", nargs=3, metavar=("METHOD", "PATH", "K"), help=argparse.SUPPRESS)
    parser.add_argument("--vs-decode-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.vs_decode_child:
        vs_decode_child(args.vs_decode_child)
        return
    if args.vs_decode:
        vs_decode_table(args.corpus, max(args.runs, 9), args.baseline)
        return
    if args.child:
        run_child(args.child[0], Path(args.child[1]), int(args.child[2]))
        return
    if args.auto:
        auto_table(photos(args.corpus, args.quick), max(args.runs, 10))
        return
    if args.profile:
        ks: tuple[K, ...] = (5, 10, "auto")
        for k in ks:
            profile_table(photos(args.corpus, args.quick), k, max(args.runs, 20))
        return
    methods, notes = available_methods()
    if args.only:
        wanted = set(args.only.split(",")) | {"ours (din99o)"}
        methods = {n: m for n, m in methods.items() if n in wanted}
    for note in notes:
        print(note)
    files = photos(args.corpus, args.quick)
    labs = {path: (reference_lab(path), reference_lab(path, managed=False)) for path in files}
    print(f"python {sys.version.split()[0]}, command: {' '.join(sys.argv)}")
    for k in (5, 10):
        method_table(methods, files, k, max(args.runs, 3), labs)
    if args.curve:
        curve_table(files, max(args.runs, 3), labs)
    share_table(files, 5)
    synthetic_table()
    large_table(methods, args.corpus, 5, max(args.runs, 3), args.quick)


if __name__ == "__main__":
    main()
