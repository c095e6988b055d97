"""`omscan scan --config fleet.toml`: named sources, each with its own globs and endpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .cli import run, write_model
from .s3server import REGION, Admin, SeaweedServer
from .test_scan_s3 import latest


def test_a_fleet_of_a_tree_and_a_bucket_is_scanned_by_one_command(
    tmp_path: Path, s3_server: SeaweedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    admin = Admin(s3_server)
    bucket = admin.new_bucket()
    write_model(tmp_path / "src" / "a.om", 1000, 10)
    write_model(tmp_path / "src" / "skip.om", 2000, 10)
    admin.put_file(bucket, "zoo/a.om", tmp_path / "src" / "a.om")
    admin.put_file(bucket, "zoo/skip.om", tmp_path / "src" / "skip.om")
    tree = tmp_path / "tree"
    write_model(tree / "m.bin", 3000, 10)
    write_model(tree / "n.om", 4000, 10)
    config = tmp_path / "fleet.toml"
    config.write_text(
        f"""# the nightly fleet
[sources.zoo]
root = "s3://{bucket}/zoo"
endpoint_url = "{s3_server.endpoint}"
exclude = ["skip.om"]

[sources.disk]
root = "{tree}"
include = ["*.bin"]
"""
    )
    db = tmp_path / "s.db"
    code, out = run("scan", "--config", str(config), "--db", f"sqlite:///{db}", "--json")
    assert code == 0, out
    assert [row["source"] for row in json.loads(out)] == ["zoo", "disk"]
    assert set(latest(db, f"s3://{bucket}/zoo")) == {"a.om"}
    assert set(latest(db, str(tree.resolve()))) == {"m.bin"}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('[sources.a]\nroot = "/tmp"\n\ninclud = ["*.om"]\n', "fleet.toml:4: unknown key 'includ'"),
        ('[sources.a]\nroot = "/tmp"\n[other]\nx = 1\n', "fleet.toml:3: unknown key 'other'"),
        ('top = 1\n[sources.a]\nroot = "/tmp"\n', "fleet.toml:1: unknown key 'top'"),
        ('[sources.a]\nroot = "/tmp"\nexclude = "x"\n', "fleet.toml:3: exclude must be a list"),
        ("[sources.a]\ninclude = []\n", "fleet.toml:1: [sources.a] has no root"),
        ('[sources.a]\nroot = "/no/such/dir"\n', "source a: directory '/no/such/dir'"),
    ],
)
def test_a_fleet_file_error_names_its_line(tmp_path: Path, text: str, said: str) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text(text)
    code, out = run("scan", "--config", str(config), "--db", f"sqlite:///{tmp_path}/s.db")
    assert code == 2 and said in out, out


def test_config_and_roots_do_not_mix(tmp_path: Path) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text('[sources.a]\nroot = "/tmp"\n')
    code, out = run("scan", str(tmp_path), "--config", str(config))
    assert code == 2 and "--config takes the roots from the file" in out
    code, out = run("scan")
    assert code == 2 and "give ROOT..." in out
