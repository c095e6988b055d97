"""The object-storage module's parts that need no server: roots, settings, the listing
guard, the fetched-range cache and how client errors become ours."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from scanner.objstore import (
    AccessDenied,
    BadObjectUrl,
    ListingLoop,
    MissingBucket,
    MissingObject,
    ObjectChanged,
    ObjectInfo,
    ObjectRoot,
    S3Settings,
    ServerError,
    WrongCredentials,
)
from scanner.objstore.bucket import classify, obstore_can_address
from scanner.objstore.listing import Page, paginate
from scanner.objstore.ranged import HEAD_BYTES, TAIL_BYTES, RangedSource


@pytest.mark.parametrize(
    ("url", "bucket", "prefix", "shown"),
    [
        ("s3://models", "models", "", "s3://models"),
        ("s3://models/", "models", "", "s3://models"),
        ("S3://models/zoo", "models", "zoo/", "s3://models/zoo"),
        ("s3://models/zoo/v1/", "models", "zoo/v1/", "s3://models/zoo/v1"),
        ("s3://my.bucket-1/a b/#1?x", "my.bucket-1", "a b/#1?x/", "s3://my.bucket-1/a b/#1?x"),
    ],
)
def test_object_roots_parse_with_the_prefix_as_a_folder(
    url: str, bucket: str, prefix: str, shown: str
) -> None:
    root = ObjectRoot.parse(url)
    assert (root.bucket, root.prefix, root.url) == (bucket, prefix, shown)
    assert root.relative(root.key("m/x.om")) == "m/x.om"
    if prefix:
        with pytest.raises(ValueError, match="not under"):
            root.relative("elsewhere.om")


@pytest.mark.parametrize(
    "url", ["models", "/data/models", "s3://", "s3:///x", "s3://a", "s3://b!d"]
)
def test_bad_object_urls_are_usage_errors(url: str) -> None:
    with pytest.raises(BadObjectUrl) as caught:
        ObjectRoot.parse(url)
    assert "\n" not in str(caught.value)


def test_settings_come_from_the_standard_variables_and_the_flag_wins() -> None:
    env = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ACCESS_KEY_ID": "AKID",
        "AWS_SECRET_ACCESS_KEY": "very-secret",
        "AWS_SESSION_TOKEN": "token-secret",
        "AWS_REGION": "cn-north-4",
        "AWS_PROFILE": "obs",
    }
    settings = S3Settings.from_env(env)
    assert settings.endpoint_url == "http://127.0.0.1:9000"
    assert (settings.access_key_id, settings.region, settings.profile) == (
        "AKID",
        "cn-north-4",
        "obs",
    )
    assert set(settings.secrets()) == {"very-secret", "token-secret"}
    assert "very-secret" not in repr(settings) and "token-secret" not in repr(settings)
    flagged = S3Settings.from_env(
        env, endpoint_url="https://obs.cn-north-4.myhuaweicloud.com", virtual_hosted=True
    )
    assert flagged.endpoint_url == "https://obs.cn-north-4.myhuaweicloud.com"
    assert flagged.virtual_hosted
    assert S3Settings.from_env({"AWS_ENDPOINT_URL_S3": "http://s3"}).endpoint_url == "http://s3"
    assert S3Settings.from_env({"AWS_DEFAULT_REGION": "eu-west-1"}).region == "eu-west-1"


def _object(key: str) -> ObjectInfo:
    return ObjectInfo(key, 1, '"e"', datetime(2026, 1, 1, tzinfo=UTC))


def _pages(tokens: list[str | None]) -> tuple[list[str | None], object]:
    """A fake server answering page i with next token tokens[i]; records what was asked."""
    asked: list[str | None] = []

    async def fetch(token: str | None) -> Page:
        asked.append(token)
        index = len(asked) - 1
        return Page([_object(f"k{index}")], tokens[index])

    return asked, fetch


async def _collect(fetch: object) -> list[str]:
    return [o.key async for page in paginate(fetch, "s3://b") for o in page]  # type: ignore[arg-type]


def test_the_pager_follows_tokens_to_the_last_page() -> None:
    asked, fetch = _pages(["t1", "t2", None])
    assert asyncio.run(_collect(fetch)) == ["k0", "k1", "k2"]
    assert asked == [None, "t1", "t2"]


@pytest.mark.parametrize("tokens", [["t1", "t1", None], ["t1", "t2", "t1", None]])
def test_a_repeated_continuation_token_ends_the_listing(tokens: list[str | None]) -> None:
    asked, fetch = _pages(tokens)
    with pytest.raises(ListingLoop, match="repeated a continuation token") as caught:
        asyncio.run(_collect(fetch))
    assert len(asked) == len(tokens) - 1  # the repeat is never sent back
    assert "\n" not in str(caught.value)


def test_a_truncated_page_without_a_token_is_an_error() -> None:
    _, fetch = _pages(["", None])
    with pytest.raises(ServerError, match="without a continuation token"):
        asyncio.run(_collect(fetch))


def _never(start: int, end: int) -> bytes:
    raise AssertionError(f"fetched {start}-{end}")


def test_held_spans_join_and_serve_reads_inside_them() -> None:
    source = RangedSource(100, _never)
    source.add(10, b"a" * 10)
    source.add(30, b"c" * 10)
    assert source.read(12, 5) == b"aaaaa" and source.read(5, 0) == b""
    assert source.held(15, 10) is None  # runs past the first span
    assert source.plan(15, 10) == (20, 30)  # a small read reads ahead, to the next span
    assert source.plan(35, 100) == (40, 100)  # only what is missing
    source.add(20, b"b" * 10)
    assert source.spans == [(10, b"a" * 10 + b"b" * 10 + b"c" * 10)]
    assert source.read(15, 20) == b"a" * 5 + b"b" * 10 + b"c" * 5
    assert source.bytes_read == 30


def test_reads_fetch_the_head_then_only_what_is_missing() -> None:
    data = bytes(range(256)) * 64  # 16 KiB
    fetched: list[tuple[int, int]] = []

    def fetch(start: int, end: int) -> bytes:
        fetched.append((start, end))
        return data[start:end]

    source = RangedSource(len(data), fetch)
    assert source.read(0, 4) == data[:4]
    assert source.read(4000, 200) == data[4000:4200]
    assert source.read(100, 3000) == data[100:3100]
    assert fetched == [(0, HEAD_BYTES), (HEAD_BYTES, 4200)]
    assert source.bytes_read == 4200


def test_the_fetch_plan_takes_the_head_then_what_is_missing_then_the_tail() -> None:
    size = 256 << 20
    om, om2 = RangedSource(size, _never), RangedSource(size, _never)
    assert om.plan(0, 4) == (0, HEAD_BYTES)
    om.add(0, b"IMOD" + bytes(HEAD_BYTES - 4))
    om2.add(0, b"PK\x03\x04" + bytes(HEAD_BYTES - 4))
    for source in (om, om2):
        assert source.plan(100 << 20, 5000) == (100 << 20, (100 << 20) + 5000)
        assert source.plan(50 << 20, 30) == (50 << 20, (50 << 20) + 4096)  # read ahead
        assert source.plan(4000, 200) == (HEAD_BYTES, 4200)  # the part not held
    assert om.plan(size - 300, 200) == (size - 300, size - 100)  # TASK_INFO, exactly
    assert om2.plan(size - 22, 22) == (size - TAIL_BYTES, size)  # a ZIP's end record
    assert om2.plan(size - TAIL_BYTES - 100, 200) == (size - TAIL_BYTES - 100, size)
    assert RangedSource(1000, _never).plan(0, 4) == (0, 1000)


@pytest.mark.parametrize(
    ("key", "plain"),
    [
        ("models/resnet 50.om", True),
        ("ünïcode/模型.om", True),
        ("v1..2/..hidden.om", True),
        ("a/../b.om", False),
        ("./a.om", False),
        ("a//b.om", False),
        ("dir/", False),
        ("/lead.om", False),
        ("tab\there.om", False),
        ("del\x7f.om", False),
    ],
)
def test_keys_obstore_cannot_take_as_they_are_are_recognised(key: str, plain: bool) -> None:
    assert obstore_can_address(key) is plain


def _client_error(status: int, code: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (403, "InvalidAccessKeyId", WrongCredentials),
        (403, "SignatureDoesNotMatch", WrongCredentials),
        (403, "AccessDenied", AccessDenied),
        (404, "NoSuchBucket", MissingBucket),
        (404, "NoSuchKey", MissingObject),
        (412, "PreconditionFailed", ObjectChanged),
        (503, "SlowDown", ServerError),
    ],
)
def test_server_refusals_become_typed_errors(status: int, code: str, kind: type) -> None:
    error = classify(_client_error(status, code), "s3://b/k", 4)
    assert type(error) is kind
    assert (error.status, error.code) == (status, code)
    assert error.reason.startswith("s3://b/k: ") and f"HTTP {status}" in error.reason
