"""What can go wrong talking to a bucket, as types the scan can act on.

Each error carries a one-line ``reason`` made by omscan from the HTTP status and the S3
error code, never a client library's message: those can quote request details, and a
secret must never reach an error, a log or the store.
"""

from __future__ import annotations


class ObjectStoreError(Exception):
    """Base of every object-storage error; ``status`` and ``code`` when the server said."""

    def __init__(self, reason: str, *, status: int | None = None, code: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.code = code


class BadObjectUrl(ObjectStoreError, ValueError):
    """Not an ``s3://BUCKET[/PREFIX]`` URL (a usage error)."""


class NoCredentials(ObjectStoreError):
    """Neither the environment nor a profile gives credentials."""


class WrongCredentials(ObjectStoreError):
    """The server does not know the access key, or the signature does not match."""


class AccessDenied(ObjectStoreError):
    """Known credentials without permission for this bucket or object (403)."""


class MissingBucket(ObjectStoreError):
    """The bucket does not exist (404 NoSuchBucket)."""


class MissingObject(ObjectStoreError):
    """The object is gone (404): deleted since it was listed."""


class ObjectChanged(ObjectStoreError):
    """The object no longer has the ETag (or version) it was listed with (412): it was
    replaced, so its bytes must not be mixed with the ones already read."""


class RequestTimeout(ObjectStoreError):
    """No answer in time, after the retries."""


class Unreachable(ObjectStoreError):
    """No connection to the endpoint, after the retries."""


class ServerError(ObjectStoreError):
    """Any other refusal (5xx after the retries, an unexpected status)."""


class ListingLoop(ObjectStoreError):
    """The server repeated a continuation token: listing on would never end."""
