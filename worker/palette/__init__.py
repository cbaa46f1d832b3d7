"""The pure palette core: image bytes in, colours, shares and a bar out; no I/O.

Every module here is a pure function of bytes and options (it imports neither boto3,
Celery nor the web framework); the service's edges in ``worker/`` call it::

    decode      bytes → a sample grid of sRGB pixels, alpha mask and facts (Pillow)
    colorspace  sRGB ↔ linear ↔ CIELAB / OKLab / DIN99o, CIEDE2000, luminance
    cluster     weighted k-means++, scikit-learn's Lloyd kernel, Weiszfeld
    naming      CSS and basic colour names, WCAG text colour
    pipeline    decode → quantise → cluster → merge → count → describe (``extract``)
    render      the bar PNG
"""

from worker.palette.pipeline import MAX_K, Options, extract, make_options

__all__ = ["MAX_K", "Options", "extract", "make_options"]
