"""One open bucket: its listing and ranged reads of its objects, through two clients.

Reads go through obstore (Rust): a 4 KiB ranged GET costs about a third of the CPU it
costs through aiobotocore, and a scan is thousands of them. The listing goes through
aiobotocore: obstore fails a whole listing on one key it cannot represent (a control
character, an empty, ``.`` or ``..`` segment) and hides the continuation tokens a faulty
server can repeat; botocore takes any key and shows every token. botocore also resolves
the credentials (environment, profiles, refreshing ones) that obstore then signs with,
and reads the few keys obstore cannot address. scripts/bench_s3.py has the figures.

Every read is pinned to the listed ETag (If-Match; the version id too where the listing
had one), so a replaced object is :class:`ObjectChanged`, never a mix of two versions.
Requests are bounded (``max_in_flight``) and retried with backoff on 5xx and timeouts.
"""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.from_thread
import anyio.to_thread
import botocore.session
import obstore
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore import exceptions as boto_errors
from obstore import exceptions as obstore_errors
from obstore.store import S3Store

from .errors import (
    AccessDenied,
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
from .listing import ObjectInfo, Page, paginate
from .location import ObjectRoot
from .settings import DEFAULT_REGION, S3Settings

if TYPE_CHECKING:
    from obstore import GetOptions
    from obstore.store import S3Credential, S3CredentialProvider
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import (
        GetObjectRequestTypeDef,
        ListObjectsV2RequestTypeDef,
    )

PAGE_SIZE = 1000
# S3 error codes that mean the key pair itself is wrong, not the permissions it has.
CREDENTIAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "InvalidSecurity",
        "AuthorizationHeaderMalformed",
    }
)
_STATUS = re.compile(r"status code: (\d{3})")
_CODE = re.compile(r"<Code>([A-Za-z0-9.]{1,64})</Code>")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def shown(text: str) -> str:
    """A key or URL fit for a one-line message (keys are the bucket owner's to choose)."""
    text = text if text.isprintable() else ascii(text)[1:-1]
    return text if len(text) <= 200 else text[:197] + "..."


def obstore_can_address(key: str) -> bool:
    """Whether obstore's path rules take ``key`` as it is: no control characters, no
    empty, ``.`` or ``..`` segment (which also rules out a leading or trailing ``/``,
    a key obstore would silently shorten)."""
    return not _CONTROL.search(key) and all(part not in ("", ".", "..") for part in key.split("/"))


class Bucket:
    """Use through :func:`open_bucket`."""

    def __init__(
        self, root: ObjectRoot, settings: S3Settings, client: S3Client, store: S3Store
    ) -> None:
        self.root = root
        self.settings = settings
        self._client = client
        self._store = store
        # Objects in flight (answer_object's worker threads), and requests at once.
        self.limiter = anyio.CapacityLimiter(settings.max_in_flight)
        self._requests = threading.BoundedSemaphore(settings.max_in_flight)

    def __repr__(self) -> str:
        return f"Bucket({self.root.url!r}, {self.settings!r})"

    async def list(self) -> AsyncIterator[list[ObjectInfo]]:
        """The objects under the root, a page (up to 1,000) at a time, in key order."""
        async for objects in paginate(self._page, shown(self.root.url)):
            yield objects

    async def _page(self, token: str | None) -> Page:
        request: ListObjectsV2RequestTypeDef = {
            "Bucket": self.root.bucket,
            "Prefix": self.root.prefix,
            "MaxKeys": PAGE_SIZE,
        }
        if token is not None:
            request["ContinuationToken"] = token
        try:
            answer = await self._client.list_objects_v2(**request)
        except Exception as exc:
            raise self._error(exc, self.root.url) from None
        objects = [
            ObjectInfo(
                key=item["Key"],
                size=item["Size"],
                etag=item.get("ETag", ""),
                last_modified=item["LastModified"],
            )
            for item in answer.get("Contents", [])
        ]
        truncated = answer.get("IsTruncated", False)
        return Page(objects, answer.get("NextContinuationToken", "") if truncated else None)

    async def head(self, key: str) -> ObjectInfo:
        """The object at ``key`` as a listing would show it (a distributed worker's
        claim names a key only): what its reads then pin to."""
        try:
            answer = await self._client.head_object(Bucket=self.root.bucket, Key=key)
        except Exception as exc:
            raise self._error(exc, f"s3://{self.root.bucket}/{key}") from None
        return ObjectInfo(
            key=key,
            size=answer["ContentLength"],
            etag=answer.get("ETag", ""),
            last_modified=answer["LastModified"],
        )  # no version id: the listing (ListObjectsV2) gives none, and tokens must agree

    def read(self, obj: ObjectInfo, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of the listed version of ``obj``.

        Blocking: call it from a worker thread started by anyio (as
        :func:`~scanner.objstore.ranged.answer_object` does). A blocking obstore GET
        costs less CPU than an awaited one (no future crosses from Rust to asyncio), and
        releases the GIL while it waits; the keys obstore cannot take go through
        botocore in the event loop.
        """
        if not 0 <= start < end <= obj.size:
            raise ValueError(f"range {start}-{end} outside an object of {obj.size} bytes")
        where = f"s3://{self.root.bucket}/{obj.key}"
        with self._requests:
            try:
                if obstore_can_address(obj.key):
                    data = self._read_obstore(obj, start, end)
                else:
                    data = anyio.from_thread.run(self._read_botocore, obj, start, end)
            except Exception as exc:
                raise self._error(exc, where) from None
        if len(data) != end - start:
            raise ObjectChanged(
                f"{shown(where)}: {len(data)} bytes where {end - start} were asked: "
                "not the object that was listed"
            )
        return data

    def _read_obstore(self, obj: ObjectInfo, start: int, end: int) -> bytes:
        options: GetOptions = {"range": (start, end)}
        if obj.etag:
            options["if_match"] = obj.etag
        if obj.version_id:
            options["version"] = obj.version_id
        return bytes(obstore.get(self._store, obj.key, options=options).bytes())

    async def _read_botocore(self, obj: ObjectInfo, start: int, end: int) -> bytes:
        request: GetObjectRequestTypeDef = {
            "Bucket": self.root.bucket,
            "Key": obj.key,
            "Range": f"bytes={start}-{end - 1}",
        }
        if obj.etag:
            request["IfMatch"] = obj.etag
        if obj.version_id:
            request["VersionId"] = obj.version_id
        answer = await self._client.get_object(**request)
        async with answer["Body"] as body:
            return await body.read()

    def _error(self, exc: Exception, where: str) -> ObjectStoreError:
        error = classify(exc, shown(where), self.settings.attempts)
        for secret in self.settings.secrets():  # defence in depth: reasons are ours anyway
            error.reason = error.reason.replace(secret, "***")
            error.args = (error.reason,)
        return error


def classify(exc: Exception, where: str, attempts: int) -> ObjectStoreError:
    """A client library's exception as one of ours, with a reason of our own words."""
    if isinstance(exc, ObjectStoreError):
        return exc
    if isinstance(exc, boto_errors.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = exc.response.get("Error", {}).get("Code")
        return _refusal(where, status, code, attempts)
    if isinstance(exc, boto_errors.NoCredentialsError | boto_errors.PartialCredentialsError):
        return NoCredentials(f"{where}: no credentials found (environment, profile)")
    if isinstance(exc, boto_errors.ProfileNotFound):
        return NoCredentials(f"{where}: {exc}")
    if isinstance(exc, boto_errors.ConnectTimeoutError | boto_errors.ReadTimeoutError):
        return RequestTimeout(f"{where}: no answer in time after {attempts} attempts")
    if isinstance(exc, boto_errors.EndpointConnectionError | boto_errors.ConnectionClosedError):
        return Unreachable(f"{where}: cannot connect to the endpoint after {attempts} attempts")
    if isinstance(exc, obstore_errors.BaseError | FileNotFoundError):
        return _obstore_error(exc, where, attempts)
    return ServerError(f"{where}: {type(exc).__name__}")


def _obstore_error(exc: Exception, where: str, attempts: int) -> ObjectStoreError:
    text = str(exc)
    status_match, code_match = _STATUS.search(text), _CODE.search(text)
    status = int(status_match.group(1)) if status_match else None
    code = code_match.group(1) if code_match else None
    if isinstance(exc, obstore_errors.PreconditionError):
        status = 412
    elif isinstance(exc, FileNotFoundError):  # obstore's NotFoundError
        status = 404
    if status is not None:
        return _refusal(where, status, code, attempts)
    if "timed out" in text or "Timeout" in text or "deadline" in text:
        return RequestTimeout(f"{where}: no answer in time after {attempts} attempts")
    if "error sending request" in text:  # reqwest's words for no connection
        return Unreachable(f"{where}: cannot connect to the endpoint after {attempts} attempts")
    return ServerError(f"{where}: {type(exc).__name__} from the object-storage client")


def _refusal(where: str, status: int | None, code: str | None, attempts: int) -> ObjectStoreError:
    said = f"{code}, HTTP {status}" if code else f"HTTP {status}"
    if code in CREDENTIAL_CODES or status == 401:
        return WrongCredentials(f"{where}: wrong credentials ({said})", status=status, code=code)
    if code == "NoSuchBucket":
        return MissingBucket(f"{where}: no such bucket ({said})", status=status, code=code)
    if status == 403:
        return AccessDenied(f"{where}: access denied ({said})", status=status, code=code)
    if status == 404:
        return MissingObject(f"{where}: not found ({said})", status=status, code=code)
    if status == 412:
        return ObjectChanged(
            f"{where}: replaced since it was listed (ETag no longer matches, {said})",
            status=status,
            code=code,
        )
    if status is not None and status >= 500:
        return ServerError(
            f"{where}: server error ({said}) after {attempts} attempts", status=status, code=code
        )
    return ServerError(f"{where}: refused ({said})", status=status, code=code)


@asynccontextmanager
async def open_bucket(root: ObjectRoot, settings: S3Settings) -> AsyncIterator[Bucket]:
    """The bucket behind ``root``, reachable as ``settings`` say; no request is made yet
    (the first listing page or read reports wrong credentials or a missing bucket)."""
    session = AioSession(profile=settings.profile)
    region = settings.region or _profile_region(session) or DEFAULT_REGION
    config = AioConfig(
        region_name=region,
        s3={"addressing_style": "virtual" if settings.virtual_hosted else "path"},
        retries={"mode": "standard", "total_max_attempts": settings.attempts},
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.timeout,
        max_pool_connections=settings.max_in_flight,
    )
    keys: dict[str, Any] = {}
    if settings.access_key_id and settings.secret_access_key:
        keys = {
            "aws_access_key_id": settings.access_key_id,
            "aws_secret_access_key": settings.secret_access_key,
            "aws_session_token": settings.session_token,
        }
    try:
        context = session.create_client(
            "s3", endpoint_url=settings.endpoint_url, config=config, **keys
        )
    except Exception as exc:
        raise classify(exc, shown(root.url), settings.attempts) from None
    async with context as client:
        provider = await _credential_provider(settings, root)
        store = S3Store(
            root.bucket,
            endpoint=_obstore_endpoint(client.meta.endpoint_url, root.bucket, settings),
            region=region,
            virtual_hosted_style_request=settings.virtual_hosted,
            client_options={
                "allow_http": client.meta.endpoint_url.startswith("http://"),
                "timeout": timedelta(seconds=settings.timeout),
                "connect_timeout": timedelta(seconds=settings.connect_timeout),
            },
            retry_config={
                "max_retries": settings.attempts - 1,
                "retry_timeout": timedelta(seconds=settings.timeout * settings.attempts),
                "backoff": {
                    "init_backoff": timedelta(milliseconds=100),
                    "max_backoff": timedelta(seconds=5),
                    "base": 2,
                },
            },
            credential_provider=provider,
        )
        yield Bucket(root, settings, client, store)


def _profile_region(session: AioSession) -> str | None:
    try:
        region = session.get_config_variable("region")
    except boto_errors.ProfileNotFound:
        return None
    return str(region) if region else None


def _obstore_endpoint(endpoint: str, bucket: str, settings: S3Settings) -> str:
    """obstore wants the bucket in the endpoint's host name for virtual-hosted style."""
    if not settings.virtual_hosted:
        return endpoint
    parts = urlsplit(endpoint)
    return urlunsplit(parts._replace(netloc=f"{bucket}.{parts.netloc}"))


async def _credential_provider(settings: S3Settings, root: ObjectRoot) -> S3CredentialProvider:
    """Credentials for obstore: the settings' own keys, or what botocore's chain
    (profiles, SSO, assumed roles) resolves, refreshed when they expire. Synchronous:
    obstore calls it from the worker threads that read."""
    if settings.access_key_id and settings.secret_access_key:
        static: S3Credential = {
            "access_key_id": settings.access_key_id,
            "secret_access_key": settings.secret_access_key,
            "token": settings.session_token,
            "expires_at": None,
        }
        return lambda: static
    session = botocore.session.Session(profile=settings.profile)
    try:
        credentials = await anyio.to_thread.run_sync(session.get_credentials)
    except Exception as exc:
        raise classify(exc, shown(root.url), settings.attempts) from None
    if credentials is None:
        raise NoCredentials(
            f"{shown(root.url)}: no credentials: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
        )

    def current() -> S3Credential:
        frozen = credentials.get_frozen_credentials()
        expiry: datetime | None = getattr(credentials, "_expiry_time", None)
        return {
            "access_key_id": frozen.access_key or "",
            "secret_access_key": frozen.secret_key or "",
            "token": frozen.token,
            "expires_at": expiry,
        }

    return current
