"""Models in S3-compatible object storage (Huawei OBS, MinIO, SeaweedFS, AWS S3).

``open_bucket`` gives a :class:`Bucket` for an ``s3://BUCKET[/PREFIX]`` root: its listing
(:class:`ObjectInfo` pages) and ETag-pinned ranged reads; ``answer_object`` answers one
listed object with the om reader from a few KiB of ranged reads.

The S3 client libraries (botocore, aiobotocore, obstore) take about 0.18 s to import:
``Bucket`` and ``open_bucket`` load them on first use, so that a
scan of local repositories never pays for them.
"""

from typing import TYPE_CHECKING, Any

from .errors import (
    AccessDenied,
    BadObjectUrl,
    ListingLoop,
    MissingBucket,
    MissingObject,
    NoCredentials,
    ObjectChanged,
    ObjectStoreError,
    RequestTimeout,
    ServerError,
    Unreachable,
    WrongCredentials,
)
from .listing import ObjectInfo
from .location import ObjectRoot, is_object_url
from .ranged import answer_object
from .settings import S3Settings

if TYPE_CHECKING:
    from .bucket import Bucket, open_bucket


def __getattr__(name: str) -> Any:
    if name not in ("Bucket", "open_bucket"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import bucket

    return getattr(bucket, name)


__all__ = [
    "AccessDenied",
    "BadObjectUrl",
    "Bucket",
    "ListingLoop",
    "MissingBucket",
    "MissingObject",
    "NoCredentials",
    "ObjectChanged",
    "ObjectInfo",
    "ObjectRoot",
    "ObjectStoreError",
    "RequestTimeout",
    "S3Settings",
    "ServerError",
    "Unreachable",
    "WrongCredentials",
    "answer_object",
    "is_object_url",
    "open_bucket",
]
