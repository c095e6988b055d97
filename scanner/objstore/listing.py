"""A bucket's listing, page by page, with the guard a faulty server needs.

Huawei OBS has been seen answering a ListObjectsV2 page with the continuation token it was
just given, so a client that trusts it lists the same page forever. The pager remembers
every token and stops with :class:`ListingLoop` the first time one comes back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from .errors import ListingLoop, ServerError


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object: what identifies this version of it, and what reads pin to."""

    key: str
    size: int
    etag: str
    last_modified: datetime
    version_id: str | None = None


@dataclass(frozen=True)
class Page:
    objects: list[ObjectInfo]
    next_token: str | None  # None: the last page


FetchPage = Callable[[str | None], Awaitable[Page]]


async def paginate(fetch: FetchPage, where: str) -> AsyncIterator[list[ObjectInfo]]:
    """Every page ``fetch`` returns, following its tokens until the last page."""
    token: str | None = None
    seen: set[str] = set()
    while True:
        page = await fetch(token)
        yield page.objects
        if page.next_token is None:
            return
        if page.next_token in seen:
            raise ListingLoop(
                f"{where}: the server repeated a continuation token after "
                f"{len(seen) + 1} pages; the listing would never end (a known fault of "
                "some S3-compatible servers)"
            )
        if not page.next_token:
            raise ServerError(f"{where}: a truncated listing page without a continuation token")
        seen.add(page.next_token)
        token = page.next_token
