"""The pure palette core: image bytes in, colours, shares and a bar out; no I/O.

Every module here is a pure function of bytes and options (it imports neither boto3,
Celery nor the web framework); the service's edges in ``worker/`` call it. One job reads
top to bottom in ``pipeline``; each step is a module::

    options     every option that changes a palette, validated once
    decode      bytes → a sample grid of sRGB pixels, alpha mask and facts (Pillow)
    quantize    the sample, grouped into bins (means, counts, each pixel's bin)
    spaces      the clustering spaces by name (conversions and thresholds per space)
    colorspace  the colour maths: sRGB ↔ linear ↔ CIELAB / OKLab / DIN99o, CIEDE2000
    auto        k="auto": the smallest k after which one more colour stops paying
    fit         bins → palette colours (k-means, merge) and the fit error
    cluster     the kernels: weighted k-means++, scikit-learn's Lloyd, Weiszfeld, swaps
    counting    pixels per colour, each pixel for its own nearest colour
    describe    the ``colors`` list: shares, OKLCH, names (``naming``), text colour
    render      the bar PNG
    limits      the per-process memory cap behind decode's own limits
"""

from worker.palette.options import MAX_K, Options, make_options
from worker.palette.pipeline import extract

__all__ = ["MAX_K", "Options", "extract", "make_options"]
