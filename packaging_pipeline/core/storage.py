"""One storage abstraction over a local directory and S3, with identical keys underneath.

A lake is addressed by URI (``file:///abs/path`` or ``s3://bucket/prefix``); every stage reads and
writes keys such as ``raw/orders/ds=2026-11-01/part-0.parquet`` relative to it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import unquote, urlparse

from packaging_pipeline.core.config import S3Options, Settings
from packaging_pipeline.core.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client  # noqa: F401


@dataclasses.dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    symlink: bool = False  # a local lake's symbolic link (its target may be outside the lake, or missing)
    modified: float = 0.0  # last modification, seconds since the epoch


def check_key(key: str) -> str:
    """Reject keys that could escape the lake or alias another key."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise ValueError(f"invalid lake key {key!r}: keys are relative, '/'-separated paths")
    parts = key.rstrip("/").split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid lake key {key!r}: empty, '.' or '..' segments are not allowed")
    return key


_MISSING_CODES = ("404", "NoSuchKey", "NotFound")


def is_missing(exc: BaseException) -> bool:
    """True when a lake read failed because the object is not there (a local file, or S3's 404/NoSuchKey)."""
    if isinstance(exc, FileNotFoundError):
        return True
    response = getattr(exc, "response", None)
    return isinstance(response, dict) and response.get("Error", {}).get("Code") in _MISSING_CODES


def folder_prefix(prefix: str) -> str:
    """``prefix`` if it names a folder (non-empty, ending in '/'), else ValueError.

    Deleting by a bare name prefix would also take every sibling whose name starts the same: on S3
    and locally, ``ds=2026-11-20`` matches ``ds=2026-11-20.bak/``.
    """
    if not prefix or not prefix.endswith("/"):
        raise ValueError(
            f"refusing to delete by prefix {prefix!r}: name a folder ending in '/', so sibling folders whose "
            f"names start the same (e.g. a backup ds=...bak) are not deleted with it"
        )
    return check_key(prefix.rstrip("/")) + "/"


class Lake:
    """Interface shared by :class:`LocalLake` and :class:`S3Lake`."""

    uri: str

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Objects under ``prefix`` (recursively), sorted by key."""
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def read_bytes(self, key: str) -> bytes:
        raise NotImplementedError

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[IO[bytes]]:
        """A binary stream of the object; large objects are not read into memory at once."""
        raise NotImplementedError
        yield  # pragma: no cover

    def write_bytes(self, key: str, data: bytes) -> None:
        """Write an object so readers see the old content or the new one, never a torn file."""
        raise NotImplementedError

    def upload_file(self, path: str | os.PathLike[str], key: str) -> None:
        """Put a local file (multipart on S3 above the threshold)."""
        raise NotImplementedError

    def upload_many(self, items: Iterable[tuple[str | os.PathLike[str] | bytes, str]]) -> int:
        """Put many (local file or bytes, key) pairs with bounded concurrency; returns the count."""
        count = 0
        for src, key in items:
            if isinstance(src, bytes):
                self.write_bytes(key, src)
            else:
                self.upload_file(src, key)
            count += 1
        return count

    def copy(self, src_key: str, dst_key: str) -> None:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under the folder ``prefix`` (it must end in '/'); returns how many were deleted."""
        raise NotImplementedError

    def write_text(self, key: str, text: str) -> None:
        self.write_bytes(key, text.encode("utf-8"))

    def read_text(self, key: str) -> str:
        return self.read_bytes(key).decode("utf-8")

    def uri_of(self, key: str) -> str:
        return f"{self.uri.rstrip('/')}/{check_key(key)}"

    @contextlib.contextmanager
    def writer(self, key: str, suffix: str = "") -> Iterator[Path]:
        """Yield a local temp path; on clean exit it is uploaded to ``key`` (streaming writers use this)."""
        check_key(key)
        with tempfile.TemporaryDirectory(prefix="lake-") as tmp:
            path = Path(tmp) / f"object{suffix}"
            yield path
            self.upload_file(path, key)


class LocalLake(Lake):
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).resolve()
        self.uri = self.root.as_uri()

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if self.root != path and self.root not in path.parents:
            raise ValueError(f"lake key {key!r} resolves outside the lake root {self.root}")
        return path

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        base = self._path(prefix) if prefix else self.root
        if prefix.endswith("/"):
            # A folder: only what is inside it, never a sibling whose name starts the same
            # (an operator's backup ds=2026-11-20.bak beside a missing ds=2026-11-20).
            candidates = [base] if base.is_dir() else []
        elif base.is_file():
            return [ObjectInfo(prefix, base.stat().st_size, modified=base.stat().st_mtime)]
        elif not base.is_dir():
            # A prefix may end mid-name ("raw/ord"); list the parent and filter.
            parent = base.parent
            if not parent.is_dir():
                return []
            candidates = [p for p in parent.iterdir() if p.name.startswith(base.name)]
        else:
            candidates = [base]
        out: list[ObjectInfo] = []
        for cand in candidates:
            # Symbolic links are listed (flagged), even broken ones, so a reader can say it skipped them.
            walk = [cand] if cand.is_file() else (p for p in cand.rglob("*") if p.is_symlink() or p.is_file())
            for path in walk:
                if path.name.startswith(".tmp-"):
                    continue
                link = path.is_symlink()
                stat = path.lstat() if link else path.stat()
                out.append(ObjectInfo(path.relative_to(self.root).as_posix(), stat.st_size, link, stat.st_mtime))
        return sorted(out, key=lambda o: o.key)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[IO[bytes]]:
        with open(self._path(key), "rb") as fh:
            yield fh

    def _atomic_target(self, key: str) -> tuple[Path, Path]:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path, path.parent / f".tmp-{uuid.uuid4().hex}-{path.name}"

    def write_bytes(self, key: str, data: bytes) -> None:
        path, tmp = self._atomic_target(key)
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def upload_file(self, path: str | os.PathLike[str], key: str) -> None:
        target, tmp = self._atomic_target(key)
        try:
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def copy(self, src_key: str, dst_key: str) -> None:
        self.upload_file(self._path(src_key), dst_key)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        objects = self.list(folder_prefix(prefix))
        for obj in objects:
            self._path(obj.key).unlink(missing_ok=True)
        base = self._path(prefix.rstrip("/")) if prefix else None
        if base is not None and base.is_dir() and prefix.endswith("/"):
            shutil.rmtree(base, ignore_errors=True)
        return len(objects)


class _BodyReader(io.RawIOBase):
    """Adapts botocore's StreamingBody to RawIOBase."""

    def __init__(self, body: object):
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class S3Lake(Lake):
    def __init__(self, bucket: str, prefix: str = "", options: S3Options | None = None, client: object = None):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.options = options or S3Options()
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._client = client

    @property
    def client(self):  # noqa: ANN201 - boto3 client types are generated at runtime
        if self._client is None:
            import boto3
            from botocore.config import Config

            opts = self.options
            session = boto3.session.Session(
                aws_access_key_id=opts.aws_access_key_id,
                aws_secret_access_key=opts.aws_secret_access_key,
                aws_session_token=opts.aws_session_token,
                region_name=opts.region_name,
            )
            self._client = session.client(
                "s3",
                endpoint_url=opts.endpoint_url,
                config=Config(
                    max_pool_connections=max(10, opts.max_concurrency),
                    connect_timeout=opts.connect_timeout_s,
                    read_timeout=opts.read_timeout_s,
                    retries={"total_max_attempts": opts.max_attempts, "mode": opts.retry_mode},
                ),
            )
        return self._client

    def _transfer_config(self):  # noqa: ANN202
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=8 * 1024 * 1024,
            multipart_chunksize=8 * 1024 * 1024,
            max_concurrency=self.options.max_concurrency,
        )

    def _full(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _rel(self, full_key: str) -> str:
        return full_key[len(self.prefix) + 1 :] if self.prefix else full_key

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        full = self._full(prefix) if prefix else (self.prefix + "/" if self.prefix else "")
        out: list[ObjectInfo] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            for obj in page.get("Contents", []):
                modified = obj["LastModified"].timestamp()
                out.append(ObjectInfo(self._rel(obj["Key"]), int(obj["Size"]), modified=modified))
        return sorted(out, key=lambda o: o.key)

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._full(key))
            return True
        except ClientError as exc:
            if is_missing(exc):
                return False
            raise

    def read_bytes(self, key: str) -> bytes:
        # botocore retries the request, not the body: a connection cut mid-body is retried here, as often.
        from botocore.exceptions import IncompleteReadError, ResponseStreamingError

        for attempt in range(1, self.options.max_attempts + 1):
            try:
                return self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"].read()
            except (IncompleteReadError, ResponseStreamingError):
                if attempt == self.options.max_attempts:
                    raise
        raise AssertionError("unreachable")  # max_attempts >= 1

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[IO[bytes]]:
        body = self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"]
        try:
            # A real buffered file object, so line iteration and gzip behave as on local files.
            yield io.BufferedReader(_BodyReader(body), buffer_size=1024 * 1024)
        finally:
            body.close()

    def write_bytes(self, key: str, data: bytes) -> None:
        # A single PUT is atomic on S3: readers see the previous object or the new one.
        self.client.upload_fileobj(io.BytesIO(data), self.bucket, self._full(key), Config=self._transfer_config())

    def upload_file(self, path: str | os.PathLike[str], key: str) -> None:
        self.client.upload_file(str(path), self.bucket, self._full(key), Config=self._transfer_config())

    def upload_many(self, items: Iterable[tuple[str | os.PathLike[str] | bytes, str]]) -> int:
        # boto3's transfer manager runs uploads on a bounded thread pool; batches bound open files too.
        from s3transfer.manager import TransferManager

        count = 0
        batch: list[tuple[str | os.PathLike[str] | bytes, str]] = []
        with TransferManager(self.client, self._transfer_config()) as manager:
            for item in items:
                batch.append(item)
                if len(batch) >= 256:
                    count += self._upload_batch(manager, batch)
                    batch = []
            count += self._upload_batch(manager, batch)
        return count

    def _upload_batch(self, manager, batch) -> int:  # noqa: ANN001
        opened: list[IO[bytes]] = []
        try:
            futures = []
            for src, key in batch:
                fileobj = io.BytesIO(src) if isinstance(src, bytes) else open(src, "rb")  # noqa: SIM115
                opened.append(fileobj)
                futures.append(manager.upload(fileobj, self.bucket, self._full(key)))
            for future in futures:
                future.result()
        finally:
            for fileobj in opened:
                fileobj.close()
        return len(batch)

    def copy(self, src_key: str, dst_key: str) -> None:
        self.client.copy(
            {"Bucket": self.bucket, "Key": self._full(src_key)},
            self.bucket,
            self._full(dst_key),
            Config=self._transfer_config(),
        )

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._full(key))

    def delete_prefix(self, prefix: str) -> int:
        keys = [self._full(o.key) for o in self.list(folder_prefix(prefix))]
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            resp = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
            if resp.get("Errors"):
                first = resp["Errors"][0]
                raise OSError(f"S3 refused to delete {first.get('Key')}: {first.get('Code')} {first.get('Message')}")
        return len(keys)


def open_lake(uri_or_settings: str | Settings, s3: S3Options | None = None) -> Lake:
    """Open the lake named by a URI or by settings."""
    if isinstance(uri_or_settings, Settings):
        uri, s3 = uri_or_settings.lake_uri, uri_or_settings.s3
    else:
        uri = uri_or_settings
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ConfigError(f"lake URI {uri!r} names a host; use file:///absolute/path")
        return LocalLake(unquote(parsed.path))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ConfigError(f"lake URI {uri!r} has no bucket; use s3://bucket/prefix")
        return S3Lake(parsed.netloc, parsed.path, s3)
    raise ConfigError(f"unsupported lake URI {uri!r}: use file:///absolute/path or s3://bucket/prefix")
