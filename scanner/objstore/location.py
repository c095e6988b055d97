"""``s3://BUCKET[/PREFIX]``: a model repository in a bucket.

The prefix is a folder: ``s3://models/resnet`` holds the keys under ``resnet/``, and a
model's path relative to the repository is its key below that folder, as a file's path is
below a local root. Everything after the bucket is taken literally (keys may hold ``?``,
``#``, ``%``, spaces, ``..``), so the URL is split by hand, not by a URL parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import BadObjectUrl

SCHEME = "s3://"
# S3's rules, plus the upper case and underscores that older buckets and other servers allow.
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,254}")


def is_object_url(text: str) -> bool:
    return text[: len(SCHEME)].lower() == SCHEME


@dataclass(frozen=True)
class ObjectRoot:
    bucket: str
    prefix: str = ""  # "" or a folder ending with "/"

    @classmethod
    def parse(cls, url: str) -> ObjectRoot:
        if not is_object_url(url):
            raise BadObjectUrl(f"not an object URL (s3://BUCKET[/PREFIX]): {url!r}")
        bucket, _, prefix = url[len(SCHEME) :].partition("/")
        if not _BUCKET.fullmatch(bucket):
            raise BadObjectUrl(f"not a bucket name: {bucket!r} in {url!r}")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return cls(bucket, prefix)

    @property
    def url(self) -> str:
        """The repository's name in results: no trailing slash."""
        return f"{SCHEME}{self.bucket}/{self.prefix}".rstrip("/")

    def relative(self, key: str) -> str:
        """A listed key's path below the repository."""
        if not key.startswith(self.prefix):
            raise ValueError(f"key {key!r} is not under {self.url}")
        return key[len(self.prefix) :]

    def key(self, relative: str) -> str:
        return self.prefix + relative
