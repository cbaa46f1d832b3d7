"""palette-worker: colour palettes for images in object storage.

The pure core (``decode``, ``palette``, ``render``, ``document``) turns bytes into a
palette; the edges (``storage``, ``tasks``, ``celery_app``, ``cli``) move bytes around.
"""

__version__ = "0.3.0"
