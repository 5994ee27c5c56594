"""One storage suite, run against a local directory and against S3 over HTTP (moto server)."""

from __future__ import annotations

import os
import re

import pyarrow as pa
import pytest

from packaging_pipeline.core.errors import ConfigError
from packaging_pipeline.core.formats import (
    iter_lines,
    read_json,
    read_parquet,
    read_parquet_prefix,
    write_json,
    write_jsonl,
    write_parquet,
)
from packaging_pipeline.core.storage import LocalLake, S3Lake, check_key, open_lake


def test_write_read_list_exists(lake):
    lake.write_bytes("raw/orders/ds=2026-11-01/a.bin", b"alpha")
    lake.write_text("raw/orders/ds=2026-11-02/b.txt", "beta")
    assert lake.read_bytes("raw/orders/ds=2026-11-01/a.bin") == b"alpha"
    assert lake.read_text("raw/orders/ds=2026-11-02/b.txt") == "beta"
    assert lake.exists("raw/orders/ds=2026-11-01/a.bin")
    assert not lake.exists("raw/orders/ds=2026-11-01/missing.bin")
    listed = lake.list("raw/orders/")
    assert [(o.key, o.size) for o in listed] == [
        ("raw/orders/ds=2026-11-01/a.bin", 5),
        ("raw/orders/ds=2026-11-02/b.txt", 4),
    ]
    assert [o.key for o in lake.list("raw/orders/ds=2026-11-01/")] == ["raw/orders/ds=2026-11-01/a.bin"]
    assert lake.list("nothing/here/") == []


def test_overwrite_replaces_whole_object(lake):
    lake.write_bytes("k/obj", b"x" * 1000)
    lake.write_bytes("k/obj", b"short")
    assert lake.read_bytes("k/obj") == b"short"
    assert len(lake.list("k/")) == 1  # no temp files left behind


def test_copy_delete_and_delete_prefix(lake):
    for i in range(5):
        lake.write_bytes(f"p/ds=2026-11-01/f{i}", b"%d" % i)
    lake.write_bytes("p/ds=2026-11-02/keep", b"k")
    lake.copy("p/ds=2026-11-01/f1", "q/copied")
    assert lake.read_bytes("q/copied") == b"1"
    lake.delete("p/ds=2026-11-01/f0")
    assert not lake.exists("p/ds=2026-11-01/f0")
    assert lake.delete_prefix("p/ds=2026-11-01/") == 4
    assert lake.list("p/ds=2026-11-01/") == []
    assert [o.key for o in lake.list("p/")] == ["p/ds=2026-11-02/keep"]
    assert lake.delete_prefix("p/ds=2099-01-01/") == 0


def test_upload_file_multipart_and_open_read(lake, tmp_path):
    big = tmp_path / "big.bin"
    payload = os.urandom(9 * 1024 * 1024 + 17)  # above the 8 MiB multipart threshold
    big.write_bytes(payload)
    lake.upload_file(big, "big/object.bin")
    with lake.open_read("big/object.bin") as fh:
        assert fh.read() == payload
    assert lake.list("big/")[0].size == len(payload)


def test_upload_many_bounded_batches(lake, tmp_path):
    files = []
    for i in range(300):  # more than one batch of 256
        path = tmp_path / f"f{i}.txt"
        path.write_text(str(i))
        files.append((path, f"many/{i:04d}.txt"))
    files.append((b"inline bytes", "many/inline.bin"))
    assert lake.upload_many(files) == 301
    listed = lake.list("many/")
    assert len(listed) == 301
    assert lake.read_text("many/0299.txt") == "299"
    assert lake.read_bytes("many/inline.bin") == b"inline bytes"


def test_writer_uploads_on_success_only(lake):
    with lake.writer("w/out.txt") as path:
        path.write_text("done")
    assert lake.read_text("w/out.txt") == "done"
    with pytest.raises(RuntimeError), lake.writer("w/failed.txt") as path:
        path.write_text("half")
        raise RuntimeError("producer died")
    assert not lake.exists("w/failed.txt")


@pytest.mark.parametrize("bad", ["", "/abs", "a/../b", "a//b", "./a", "a\\b", ".."])
def test_unsafe_keys_are_rejected(lake, bad):
    with pytest.raises(ValueError):
        lake.write_bytes(bad, b"x")


def test_parquet_json_jsonl_roundtrip(lake):
    table = pa.table({"a": [1, 2, 3], "b": ["x", None, "z"]})
    write_parquet(lake, "t/ds=2026-11-01/part-0.parquet", table)
    write_parquet(lake, "t/ds=2026-11-01/part-1.parquet", table)
    assert read_parquet(lake, "t/ds=2026-11-01/part-0.parquet").equals(table)
    assert read_parquet_prefix(lake, "t/ds=2026-11-01/").num_rows == 6
    assert read_parquet_prefix(lake, "t/ds=2000-01-01/") is None
    write_json(lake, "j/report.json", {"n": 1, "ds": "2026-11-01"})
    assert read_json(lake, "j/report.json") == {"n": 1, "ds": "2026-11-01"}
    rows = [{"i": i, "s": f"row {i}"} for i in range(1000)]
    for key in ("l/plain.jsonl", "l/zipped.jsonl.gz"):
        assert write_jsonl(lake, key, iter(rows)) == 1000
        lines = list(iter_lines(lake, key))
        assert len(lines) == 1000 and lines[5] == b'{"i":5,"s":"row 5"}\n'
    assert lake.read_bytes("l/zipped.jsonl.gz")[:2] == b"\x1f\x8b"


def test_open_lake_uris(tmp_path, s3_options):
    local = open_lake(tmp_path.as_uri())
    assert isinstance(local, LocalLake) and local.root == tmp_path.resolve()
    s3 = open_lake("s3://bucket/some/prefix", s3_options)
    assert isinstance(s3, S3Lake) and (s3.bucket, s3.prefix) == ("bucket", "some/prefix")
    assert s3.uri_of("raw/x") == "s3://bucket/some/prefix/raw/x"
    for bad in ("http://x/y", "s3:///nobucket", "file://host/path"):
        with pytest.raises(ConfigError, match="lake URI"):
            open_lake(bad)


def test_local_lake_symlink_escape_is_rejected(tmp_path):
    lake = LocalLake(tmp_path / "lake")
    (tmp_path / "lake").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "lake" / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(ValueError, match="outside the lake root"):
        lake.write_bytes("link/x", b"x")


def test_check_key_accepts_partition_keys():
    assert check_key("raw/orders/ds=2026-11-01/part-0.parquet") == "raw/orders/ds=2026-11-01/part-0.parquet"


@pytest.fixture
def stalled_endpoint():
    """An 'S3 endpoint' that accepts connections and never answers: the outage that hangs a client."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held, stop = [], threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_stalled_endpoint_fails_after_the_configured_timeouts_naming_it(stalled_endpoint):
    from botocore.exceptions import ReadTimeoutError

    from packaging_pipeline.core.config import S3Options

    options = S3Options(endpoint_url=stalled_endpoint, region_name="us-east-1", read_timeout_s=0.3, max_attempts=2,
                        aws_access_key_id="x", aws_secret_access_key="y")  # fmt: skip
    with pytest.raises(ReadTimeoutError, match=stalled_endpoint.replace(".", r"\.")):
        S3Lake("bucket", "lake", options).read_bytes("published/LATEST")


def test_cli_names_a_stalled_endpoint_and_exits_2(stalled_endpoint, tmp_path):
    from tests.support.cli import run_cli

    env = {"AWS_ENDPOINT_URL": stalled_endpoint, "PACKAGING_S3_READ_TIMEOUT": "0.3", "PACKAGING_S3_CONNECT_TIMEOUT":
           "0.3", "AWS_MAX_ATTEMPTS": "1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y",
           "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    result = run_cli("pull", "--lake", "s3://bucket/lake", "--ds", "latest", "--warehouse", "WH-1",
                     "--dest", str(tmp_path / "dest"), env=env)  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert stalled_endpoint in result.stderr and "timeout" in result.stderr.lower()


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("AWS_RETRY_MODE", "eventually", "retry mode 'eventually'"),
    ("AWS_MAX_ATTEMPTS", "lots", "AWS_MAX_ATTEMPTS='lots' is not a whole number"),
    ("AWS_MAX_ATTEMPTS", "0", "max_attempts=0"),
    ("PACKAGING_S3_READ_TIMEOUT", "nan", "read_timeout_s=nan"),
    ("PACKAGING_S3_CONNECT_TIMEOUT", "-1", "connect_timeout_s=-1.0"),
])  # fmt: skip
def test_s3_timeouts_and_retries_are_read_from_the_environment_and_checked(variable, value, message):
    from packaging_pipeline.core.config import Settings
    from packaging_pipeline.core.errors import ConfigError

    tuned = Settings.from_env({"PACKAGING_S3_READ_TIMEOUT": "7", "AWS_RETRY_MODE": "adaptive", "AWS_MAX_ATTEMPTS": "4"})
    assert (tuned.s3.read_timeout_s, tuned.s3.retry_mode, tuned.s3.max_attempts) == (7.0, "adaptive", 4)
    config = S3Lake("b", "", tuned.s3).client.meta.config
    assert config.read_timeout == 7.0 and config.retries == {"total_max_attempts": 4, "mode": "adaptive"}
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_env({variable: value})
