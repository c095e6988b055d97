"""What `scan` and `worker` share to reach buckets: the repository argument that takes a
directory or an ``s3://BUCKET[/PREFIX]`` URL, the connection options, and a scan that
stops (``interrupted``) when the endpoint goes away."""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import click

from ..objstore import BadObjectUrl, ObjectRoot, S3Settings, is_object_url
from ..sources.bucket import Buckets

T = TypeVar("T")


class Root(click.ParamType[str]):
    """A local directory that exists, or a bucket URL (checked for form only: the
    listing says whether the bucket exists)."""

    name = "root"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if is_object_url(text):
            try:
                ObjectRoot.parse(text)
            except BadObjectUrl as exc:
                self.fail(exc.reason, param, ctx)
            return text
        if not os.path.isdir(text):
            self.fail(f"directory {text!r} does not exist", param, ctx)
        return text


def object_roots(roots: Any) -> list[ObjectRoot]:
    return [ObjectRoot.parse(root) for root in roots if is_object_url(root)]


def bucket_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the object-storage options to ``command``, which receives ``s3`` settings."""

    @functools.wraps(command)
    def with_settings(
        *args: Any,
        endpoint_url: str | None,
        virtual_hosted: bool,
        max_in_flight: int,
        **kwargs: Any,
    ) -> Any:
        settings = S3Settings.from_env(
            endpoint_url=endpoint_url, virtual_hosted=virtual_hosted, max_in_flight=max_in_flight
        )
        return command(*args, s3=settings, **kwargs)

    options = [
        click.option(
            "--endpoint-url",
            metavar="URL",
            help="S3 endpoint of s3:// roots (default: $AWS_ENDPOINT_URL, else AWS).",
        ),
        click.option(
            "--virtual-hosted",
            is_flag=True,
            help="Address buckets as BUCKET.endpoint (Huawei OBS needs it).",
        ),
        click.option(
            "--max-in-flight",
            type=click.IntRange(1, 1024),
            default=32,
            show_default=True,
            help="Requests at once per bucket.",
        ),
    ]
    for option in reversed(options):
        with_settings = option(with_settings)
    return with_settings


async def stop_when_lost(
    buckets: Buckets, stop: anyio.Event, job: Callable[[anyio.Event], Awaitable[T]]
) -> T:
    """``job(stop)``, with ``stop`` set when a bucket's endpoint goes away mid-scan."""

    async def watch() -> None:
        await buckets.lost.wait()
        stop.set()

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        result = await job(stop)
        group.cancel_scope.cancel()
    return result
