"""Content digests and stable hashes: the same input gives the same value on every machine and run."""

from __future__ import annotations

import hashlib


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stable_hash64(key: str) -> int:
    """The first 64 bits of the key's SHA-256: a pick that must not change between nights or processes."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
