"""The object-storage module against a real S3 server (SeaweedFS on loopback).

What went over the wire is counted by an HTTP relay the test owns (tests/tcp_proxy.py),
not by our own counters; faults (5xx, a stalled server, a repeated continuation token, a
key the server cannot store) are made by that relay rewriting responses.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import pytest

from scanner.objstore import (
    Bucket,
    ListingLoop,
    MissingBucket,
    ObjectChanged,
    ObjectInfo,
    ObjectRoot,
    RequestTimeout,
    S3Settings,
    ServerError,
    Unreachable,
    WrongCredentials,
    answer_object,
    open_bucket,
)
from scanner.objstore.bucket import obstore_can_address
from scanner.om import QueryResult, query_path
from scanner.om.om2_writer import Om2Params, build_om2, write_om2
from scanner.om.writer import ModelParams, OmSpec, build_om, spec_for, write_om

from .corpus import CORPUS_DIR, require_corpus
from .s3server import REGION, SECRET_KEY, Admin, SeaweedServer
from .tcp_proxy import HttpProxy, Request, Response, http_response

BIG = 256 << 20
T = TypeVar("T")
FEW_KIB = 8 << 10  # "a few KiB": headers of a handful of responses and their bodies
ODD_KEYS = [
    "with space/model one.om",
    "ünïcode/模型.om",
    "v1..2/..hidden.om",
    "dir/",
    "trail/model.om/",
    "tab\there.om",
    "del\x7fkey.om",
    "semi;colon?and#hash%20.om",
]
FOLDER_KEYS = [k for k in ODD_KEYS if k.endswith("/")]


def settings_for(server: SeaweedServer, port: int | None = None, **changes: Any) -> S3Settings:
    """The server's admin key; through ``port`` (a relay) when given."""
    endpoint = server.endpoint if port is None else f"http://127.0.0.1:{port}"
    settings = S3Settings(
        endpoint_url=endpoint,
        region=REGION,
        access_key_id=server.access_key,
        secret_access_key=server.secret_key,
        attempts=2,
        timeout=10.0,
    )
    return replace(settings, **changes)


async def listed(root: str, settings: S3Settings) -> list[ObjectInfo]:
    async with open_bucket(ObjectRoot.parse(root), settings) as bucket:
        return [obj async for page in bucket.list() for obj in page]


async def answers(root: str, settings: S3Settings) -> dict[str, QueryResult]:
    """Every object under ``root``, answered at once."""
    async with open_bucket(ObjectRoot.parse(root), settings) as bucket:
        objects = [obj async for page in bucket.list() for obj in page]
        results = await asyncio.gather(*(answer_object(bucket, obj) for obj in objects))
    return {obj.key: result for obj, result in zip(objects, results, strict=True)}


def same_answer(result: QueryResult) -> dict[str, Any]:
    """Everything but the bytes read (ranged reads fetch a little more, in fewer reads)."""
    data = result.to_dict()
    del data["bytes_read"]
    return data


def assert_clean(error: BaseException, *secrets: str) -> None:
    """One line, and no secret (the server's, or ``secrets``) in its text or repr."""
    text = str(error)
    assert text and "\n" not in text
    for secret in (SECRET_KEY, *secrets):
        assert secret not in text and secret not in repr(error)


def small_model(work: int) -> bytes:
    return build_om(spec_for(ModelParams(memory_size=work, weight_size=64)))


def one_listed(admin: Admin, server: SeaweedServer, key: str = "m.om") -> tuple[str, ObjectInfo]:
    """A new bucket holding one small model at ``key``, and that object as listed."""
    bucket = admin.new_bucket()
    admin.put(bucket, key, small_model(5))
    (obj,) = asyncio.run(listed(f"s3://{bucket}", settings_for(server)))
    return bucket, obj


async def in_bucket(bucket: str, settings: S3Settings, work: Callable[[Bucket], Awaitable[T]]) -> T:
    async with open_bucket(ObjectRoot.parse(f"s3://{bucket}"), settings) as opened:
        return await work(opened)


# --- answers -----------------------------------------------------------------------


def writer_models() -> dict[str, bytes]:
    """Models of each kind the reader meets, beside the real corpus."""
    dynamic = spec_for(ModelParams(submodels=3, dynamic=True))
    bad_magic = spec_for(ModelParams())
    return {
        "made/2020.om": build_om(spec_for(ModelParams(era="2020"))),
        "made/2022.om": build_om(spec_for(ModelParams(era="2022"))),
        "made/dynamic.om": build_om(dynamic),
        "made/flow.om": build_om(spec_for(ModelParams(flow=True))),
        "made/bad-magic.om": build_om(OmSpec(bad_magic.submodels, magic=0x12345678)),
        "made/om2.om": build_om2(Om2Params()),
        "made/om2-deflated.om": build_om2(Om2Params(compress_json=True, models=2)),
        "made/om2-truncated.om": build_om2(Om2Params(defect="truncated")),
        "made/empty.om": b"",
        "made/short.om": b"IMO",
    }


def test_the_corpus_in_a_bucket_answers_exactly_as_the_local_files(
    admin: Admin, s3_server: SeaweedServer, tmp_path: Path
) -> None:
    require_corpus()
    bucket = admin.new_bucket()
    local: dict[str, Path] = {}
    for path in sorted(CORPUS_DIR.glob("*.om")):
        admin.put_file(bucket, f"zoo/corpus/{path.name}", path)
        local[f"zoo/corpus/{path.name}"] = path
    for key, data in writer_models().items():
        admin.put(bucket, f"zoo/{key}", data)
        local[f"zoo/{key}"] = tmp_path / key.replace("/", "_")
        local[f"zoo/{key}"].write_bytes(data)
    admin.put(bucket, "elsewhere.om", small_model(1))  # outside the prefix
    got = asyncio.run(answers(f"s3://{bucket}/zoo", settings_for(s3_server)))
    assert set(got) == set(local)
    for key, path in local.items():
        assert same_answer(got[key]) == same_answer(query_path(path, inventory=True)), key
    assert {r.status for r in got.values()} == {"ok", "failed"}
    assert all(
        r.bytes_read <= max(path.stat().st_size, 1)
        for r, path in zip((got[k] for k in local), local.values(), strict=True)
    )


@pytest.mark.parametrize("kind", ["om", "om2"])
def test_a_256_mib_object_is_answered_from_a_few_kib_on_the_wire(
    admin: Admin, s3_server: SeaweedServer, proxy: HttpProxy, tmp_path: Path, kind: str
) -> None:
    bucket = admin.new_bucket()
    path = tmp_path / "big.om"
    if kind == "om":
        size = write_om(path, spec_for(ModelParams(memory_size=7 << 20, weight_size=BIG)))
    else:
        size = write_om2(path, Om2Params(constants_size=BIG, internal_weight_size=BIG))
    assert size > BIG
    admin.put_file(bucket, "big.om", path)
    got = asyncio.run(answers(f"s3://{bucket}", settings_for(s3_server, proxy.port)))
    result = got["big.om"]
    assert same_answer(result) == same_answer(query_path(path, inventory=True))
    assert result.ok and result.weight_size == BIG
    # om: the first 4 KiB (header, table, MODEL_DEF), then TASK_INFO past the weights;
    # om2: the first 4 KiB, then the last 8 KiB (end record, directory, JSON entries).
    limit = FEW_KIB if kind == "om" else 16 << 10
    assert result.bytes_read < proxy.bytes_down <= limit, (result.bytes_read, proxy.bytes_down)
    assert len(proxy.gets()) == 2


# --- listing -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def many_keys(admin: Admin) -> tuple[str, dict[str, str]]:
    """A bucket with 1,100 models and the odd keys under ``p/``, and keys beside it."""
    bucket = admin.new_bucket()
    data = small_model(4096)
    keys = [f"p/m/{i:05d}.om" for i in range(1100)] + [f"p/{k}" for k in ODD_KEYS]
    with ThreadPoolExecutor(8) as pool:
        etags = dict(zip(keys, pool.map(lambda k: admin.put(bucket, k, data), keys), strict=True))
    admin.put(bucket, "p-sibling.om", data)
    admin.put(bucket, "other/p/x.om", data)
    return bucket, etags


def test_listing_pages_through_more_than_1000_keys_and_keeps_odd_keys_as_they_are(
    s3_server: SeaweedServer, proxy: HttpProxy, many_keys: tuple[str, dict[str, str]]
) -> None:
    bucket, etags = many_keys
    objects = asyncio.run(listed(f"s3://{bucket}/p", settings_for(s3_server, proxy.port)))
    assert {o.key: o.etag for o in objects} == etags
    assert [o.key for o in objects] == sorted(etags, key=lambda k: k.encode())
    # SeaweedFS keeps a key ending in "/" as a folder: listed as it is, with no content.
    assert {o.size for o in objects if not o.key.endswith("/")} == {len(small_model(4096))}
    assert {o.key for o in objects if o.size == 0} == {f"p/{k}" for k in FOLDER_KEYS}
    assert len(proxy.requests) == 2  # two pages


def test_odd_keys_are_read_as_they_are(
    s3_server: SeaweedServer, many_keys: tuple[str, dict[str, str]]
) -> None:
    bucket, _ = many_keys
    assert not all(obstore_can_address(key) for key in ODD_KEYS)  # both clients are used
    got = asyncio.run(answers(f"s3://{bucket}/p", settings_for(s3_server)))
    for key in ODD_KEYS:
        want = (100000, 0) if key in FOLDER_KEYS else (0, 4096)  # an empty object: as on disk
        assert (got[f"p/{key}"].ret, got[f"p/{key}"].work_size) == want, key


def _rewrite_listing(change: Any) -> Any:
    def rewrite(request: Request, response: Response) -> bytes:
        if "list-type=" in request.target:
            return http_response(response, change(response.body))
        return response.head + response.body

    return rewrite


def test_a_key_with_a_dot_dot_segment_is_listed_and_requested_literally(
    admin: Admin, s3_server: SeaweedServer, proxy: HttpProxy
) -> None:
    """SeaweedFS refuses to store such a key, which S3 and OBS accept, so the relay puts
    one into the listing; obstore alone would fail the whole listing on it."""
    bucket = admin.new_bucket()
    admin.put(bucket, "zoo/b.om", small_model(1))  # what a normalised path would reach
    admin.put(bucket, "zoo/c.om", small_model(2))
    proxy.rewrite = _rewrite_listing(lambda body: body.replace(b"zoo/c.om", b"zoo/a/../b.om"))
    got = asyncio.run(answers(f"s3://{bucket}/zoo", settings_for(s3_server, proxy.port)))
    assert set(got) == {"zoo/b.om", "zoo/a/../b.om"}
    assert got["zoo/b.om"].ok
    odd = got["zoo/a/../b.om"]
    assert odd.status == "unreadable" and "\n" not in (odd.error or "")
    assert f"/{bucket}/zoo/a/../b.om" in [r.target for r in proxy.gets()]


def test_a_repeated_continuation_token_ends_the_listing_with_a_clear_error(
    s3_server: SeaweedServer, proxy: HttpProxy, many_keys: tuple[str, dict[str, str]]
) -> None:
    """Every page answers with the first page's token, as OBS has been seen to do."""
    bucket, _ = many_keys
    first: list[bytes] = []

    def repeat(body: bytes) -> bytes:
        token = re.search(rb"<NextContinuationToken>(.*?)</NextContinuationToken>", body)
        if token:
            first.append(token.group(1))
        body = re.sub(rb"<NextContinuationToken>.*?</NextContinuationToken>", b"", body)
        body = body.replace(b"<IsTruncated>false</IsTruncated>", b"<IsTruncated>true</IsTruncated>")
        return body.replace(
            b"</IsTruncated>",
            b"</IsTruncated><NextContinuationToken>" + first[0] + b"</NextContinuationToken>",
        )

    proxy.rewrite = _rewrite_listing(repeat)
    with pytest.raises(ListingLoop) as caught:
        asyncio.run(listed(f"s3://{bucket}/p", settings_for(s3_server, proxy.port)))
    assert "repeated a continuation token" in str(caught.value)
    assert_clean(caught.value)
    assert len(proxy.requests) == 2


# --- changes and faults --------------------------------------------------------------


def read_range(bucket: str, settings: S3Settings, obj: ObjectInfo) -> bytes:
    """The first 10 bytes of ``obj``, read as answer_object reads (blocking, in a thread)."""

    async def work(opened: Bucket) -> bytes:
        return await anyio.to_thread.run_sync(opened.read, obj, 0, 10)

    return asyncio.run(in_bucket(bucket, settings, work))


def answer_one(bucket: str, settings: S3Settings, obj: ObjectInfo) -> QueryResult:
    async def work(opened: Bucket) -> QueryResult:
        assert not any(secret in repr(opened) for secret in settings.secrets())
        return await answer_object(opened, obj)

    return asyncio.run(in_bucket(bucket, settings, work))


@pytest.mark.parametrize("key", ["model.om", "tab\tmodel.om"])
def test_an_object_replaced_after_listing_is_changed_never_mixed(
    admin: Admin, s3_server: SeaweedServer, key: str
) -> None:
    bucket, obj = one_listed(admin, s3_server, key)
    admin.put(bucket, key, small_model(6))  # the same size, other bytes
    with pytest.raises(ObjectChanged) as caught:
        read_range(bucket, settings_for(s3_server), obj)
    assert_clean(caught.value)
    result = answer_one(bucket, settings_for(s3_server), obj)
    assert result.status == "changed" and result.ret is None
    assert "replaced since it was listed" in (result.error or "")


def test_an_object_deleted_after_listing_is_unreadable_with_the_reason(
    admin: Admin, s3_server: SeaweedServer
) -> None:
    bucket, obj = one_listed(admin, s3_server, "gone.om")
    admin.delete(bucket, "gone.om")
    result = answer_one(bucket, settings_for(s3_server), obj)
    assert result.status == "unreadable"
    assert f"s3://{bucket}/gone.om: not found" in (result.error or "")


def test_wrong_credentials_and_a_missing_bucket_are_one_line_typed_errors(
    admin: Admin, s3_server: SeaweedServer
) -> None:
    bucket, _ = one_listed(admin, s3_server)
    wrong_secret = "wrong-secret-3c1e"
    for settings in (
        settings_for(s3_server, secret_access_key=wrong_secret),
        settings_for(s3_server, access_key_id="nobody", secret_access_key=wrong_secret),
    ):
        with pytest.raises(WrongCredentials) as caught:
            asyncio.run(listed(f"s3://{bucket}", settings))
        assert str(caught.value).startswith(f"s3://{bucket}: wrong credentials (")
        assert_clean(caught.value, wrong_secret)
        assert wrong_secret not in repr(settings)
    with pytest.raises(MissingBucket) as missing:
        asyncio.run(listed("s3://no-such-bucket-here/zoo", settings_for(s3_server)))
    assert str(missing.value).startswith("s3://no-such-bucket-here/zoo: no such bucket")
    assert_clean(missing.value)


def test_reads_with_wrong_credentials_are_unreadable_and_say_why(
    admin: Admin, s3_server: SeaweedServer
) -> None:
    bucket, obj = one_listed(admin, s3_server)
    result = answer_one(bucket, settings_for(s3_server, secret_access_key="wrong-3c1e"), obj)
    assert result.status == "unreadable"
    assert "wrong credentials" in (result.error or "")
    assert "wrong-3c1e" not in (result.error or "")


def _fail_first(status: int, times: int, match: str) -> Any:
    """Answer the first ``times`` requests whose target contains ``match`` with ``status``."""
    failed: list[str] = []

    def rewrite(request: Request, response: Response) -> bytes:
        if match in request.target and len(failed) < times:
            failed.append(request.target)
            head = Response(status, f"HTTP/1.1 {status} Oops\r\n".encode() + b"\r\n")
            return http_response(head, b"<Error><Code>SlowDown</Code></Error>")
        return response.head + response.body

    return rewrite


def test_server_errors_are_retried_with_backoff(
    admin: Admin, s3_server: SeaweedServer, proxy: HttpProxy
) -> None:
    bucket, _ = one_listed(admin, s3_server)
    proxy.rewrite = _fail_first(503, 1, "list-type=")
    objects = asyncio.run(listed(f"s3://{bucket}", settings_for(s3_server, proxy.port)))
    assert [o.key for o in objects] == ["m.om"] and len(proxy.requests) == 2
    proxy.reset_counts()
    proxy.rewrite = _fail_first(500, 1, "/m.om")
    got = asyncio.run(answers(f"s3://{bucket}", settings_for(s3_server, proxy.port)))
    assert got["m.om"].ok and got["m.om"].work_size == 5
    assert len(proxy.gets()) == 2  # the failed GET and its retry


def test_a_server_that_keeps_failing_is_an_error_after_the_attempts(
    admin: Admin, s3_server: SeaweedServer, proxy: HttpProxy
) -> None:
    bucket, obj = one_listed(admin, s3_server)
    proxy.rewrite = _fail_first(500, 100, "/m.om")
    settings = settings_for(s3_server, proxy.port, attempts=3)
    with pytest.raises(ServerError) as caught:
        read_range(bucket, settings, obj)
    assert_clean(caught.value)
    result = answer_one(bucket, settings, obj)
    assert result.status == "unreadable"
    assert "server error (SlowDown, HTTP 500)" in (result.error or "")
    assert len(proxy.gets()) == 6  # three attempts, twice


def test_a_stalled_server_is_a_timeout_and_no_hang(
    admin: Admin, s3_server: SeaweedServer, proxy: HttpProxy
) -> None:
    bucket, obj = one_listed(admin, s3_server)

    def stall(request: Request, response: Response) -> bytes:
        time.sleep(3)
        return response.head + response.body

    proxy.rewrite = stall
    settings = settings_for(s3_server, proxy.port, timeout=0.5, attempts=2)
    with pytest.raises(RequestTimeout) as caught:
        read_range(bucket, settings, obj)
    assert_clean(caught.value)
    with pytest.raises(RequestTimeout) as caught:
        asyncio.run(listed(f"s3://{bucket}", settings))
    assert_clean(caught.value)


def test_an_endpoint_nobody_answers_is_unreachable(s3_server: SeaweedServer) -> None:
    closed = HttpProxy(("127.0.0.1", 9))
    closed.start()
    closed.stop()  # its port now refuses connections
    settings = settings_for(s3_server, closed.port, attempts=2)
    obj = ObjectInfo("m.om", 100, '"x"', datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(Unreachable) as caught:
        read_range("any", settings, obj)
    assert_clean(caught.value)
    with pytest.raises(Unreachable) as caught:
        asyncio.run(listed("s3://any", settings))
    assert_clean(caught.value)


# --- configuration -----------------------------------------------------------------


def test_virtual_hosted_addressing_puts_the_bucket_in_the_host_name(
    admin: Admin, s3_server: SeaweedServer, proxy: HttpProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As Huawei OBS needs. BUCKET.localhost does not resolve here, so both clients go
    through the relay as their HTTP proxy (the standard variable); the server takes the
    bucket from the host name (-s3.domainName=localhost)."""
    bucket = admin.new_bucket()
    admin.put(bucket, "zoo/m.om", small_model(9))
    port = int(s3_server.endpoint.rsplit(":", 1)[1])
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    settings = settings_for(s3_server, virtual_hosted=True)
    settings = replace(settings, endpoint_url=f"http://localhost:{port}")
    got = asyncio.run(answers(f"s3://{bucket}/zoo", settings))
    assert got["zoo/m.om"].ok and got["zoo/m.om"].work_size == 9
    host = f"http://{bucket}.localhost:{port}/"
    assert len(proxy.requests) >= 2
    assert all(r.target.startswith(host) for r in proxy.requests), proxy.requests
    assert all(f"/{bucket}/" not in r.target[len(host) - 1 :] for r in proxy.requests)


def test_credentials_from_a_profile(
    admin: Admin, s3_server: SeaweedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = admin.new_bucket()
    admin.put(bucket, "m.om", small_model(3))
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[omscan-test]\naws_access_key_id = {s3_server.access_key}\n"
        f"aws_secret_access_key = {s3_server.secret_key}\n"
    )
    (tmp_path / "config").write_text("[profile omscan-test]\nregion = us-east-1\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_PROFILE", "omscan-test")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask a metadata service
    settings = S3Settings.from_env(endpoint_url=s3_server.endpoint)
    assert settings.profile == "omscan-test" and settings.access_key_id is None
    got = asyncio.run(answers(f"s3://{bucket}", settings))
    assert got["m.om"].ok and got["m.om"].work_size == 3


def test_requests_in_flight_are_bounded(
    admin: Admin, s3_server: SeaweedServer, proxy: HttpProxy
) -> None:
    bucket = admin.new_bucket()
    keys = [f"m/{i:03d}.om" for i in range(60)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: admin.put(bucket, k, small_model(int(k[2:5]) + 1)), keys))
    got = asyncio.run(
        answers(f"s3://{bucket}", settings_for(s3_server, proxy.port, max_in_flight=4))
    )
    assert [got[k].work_size for k in keys] == list(range(1, 61))
    assert 2 <= proxy.peak_in_flight <= 4
