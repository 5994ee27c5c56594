"""A lake wrapper for the publication tests: sees the order of writes, fails on demand, refuses writes."""

from __future__ import annotations

from packaging_pipeline.core.storage import Lake


class RecordingLake(Lake):
    """A real lake underneath; records puts and deletes in order, can fail the N-th put or refuse all writes."""

    def __init__(self, inner: Lake, fail_on_put: int | None = None, read_only: bool = False):
        self.inner, self.uri = inner, inner.uri
        self.fail_on_put, self.read_only = fail_on_put, read_only
        self.events: list[tuple[str, str]] = []
        self.reads: list[str] = []

    def _write(self, op: str, key: str) -> None:
        if self.read_only:
            raise AssertionError(f"read-only lake: {op} {key}")
        if op == "put" and self.fail_on_put == 1 + sum(1 for e in self.events if e[0] == "put"):
            raise OSError(f"injected failure uploading {key}")
        self.events.append((op, key))

    def list(self, prefix=""):
        return self.inner.list(prefix)

    def exists(self, key):
        return self.inner.exists(key)

    def read_bytes(self, key):
        self.reads.append(key)
        return self.inner.read_bytes(key)

    def open_read(self, key):
        self.reads.append(key)
        return self.inner.open_read(key)

    def write_bytes(self, key, data):
        self._write("put", key)
        self.inner.write_bytes(key, data)

    def upload_file(self, path, key):
        self._write("put", key)
        self.inner.upload_file(path, key)

    def upload_many(self, items):
        def checked():
            for src, key in items:
                self._write("put", key)
                yield src, key

        return self.inner.upload_many(checked())

    def copy(self, src_key, dst_key):
        self._write("put", dst_key)
        self.inner.copy(src_key, dst_key)

    def delete(self, key):
        self._write("delete", key)
        self.inner.delete(key)

    def delete_prefix(self, prefix):
        self._write("delete_prefix", prefix)
        return self.inner.delete_prefix(prefix)
