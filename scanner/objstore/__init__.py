"""Models in S3-compatible object storage (Huawei OBS, MinIO, SeaweedFS, AWS S3).

``open_bucket`` gives a :class:`Bucket` for an ``s3://BUCKET[/PREFIX]`` root: its listing
(:class:`ObjectInfo` pages) and ETag-pinned ranged reads; ``answer_object`` answers one
listed object with the om reader from a few KiB of ranged reads.
"""

from .bucket import Bucket, open_bucket
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
