"""Results of images that are gone: removed on the storage event.

A deleted image must not keep answering with its palette: ``ObjectRemoved`` (S3, MinIO,
Ceph) and a SeaweedFS ``delete`` become a ``palette.remove`` job, and the sweep sends
the same job for every image that is gone but has results left (its event was lost;
``worker.sweep.orphan_jobs``). Both go through ``remove_results``: it deletes every
output (``worker.outputs``) and never the results of an image that exists, so a delete
followed at once by a re-upload of the same key ends with the new image's result,
whatever order the jobs run in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from worker import outputs
from worker.config import Settings
from worker.jobs import Job
from worker.storage import Storage

log = logging.getLogger(__name__)

REMOVED, IMAGE_EXISTS, REUPLOADED = "removed", "image_exists", "reuploaded"
"""What ``remove_results`` did: removed every output; left them (the image is there);
removed them, then found the image back and sent it to be processed again."""


def remove_results(
    storage: Storage,
    settings: Settings,
    key: str,
    requeue: Callable[[Job], object] | None = None,
) -> str:
    """Delete every output of ``key`` (``worker.outputs``) unless ``key`` exists in the
    input bucket.

    The JSON goes first: it is what says "there is a result", so a reader never finds a
    JSON whose bar (or any other file) is gone. The image is looked at again afterwards:
    a re-upload whose result was stored between the first look and the deletes would
    otherwise stay without one until the next sweep, so it is handed to ``requeue`` (a
    duplicate of its own event's job at worst, which is a cheap skip).
    """
    if storage.head(settings.input_bucket, key) is not None:
        return IMAGE_EXISTS
    for output in outputs.removal_order():
        storage.delete(settings.output_bucket, output.key(key))
    back = storage.head(settings.input_bucket, key)
    if back is None:
        return REMOVED
    log.info("removal of %r raced a re-upload; processing it again", key)
    if requeue is not None:
        requeue(Job(settings.input_bucket, key, back.etag, back.size))
    return REUPLOADED
