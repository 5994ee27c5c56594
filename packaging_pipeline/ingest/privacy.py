"""Keyed pseudonyms: raw customer ids stay in ``raw/``; everything downstream sees ``customer_key``.

HMAC-SHA256 with a secret key (from a Connection or secret backend, never from code) means the
mapping is stable across nights yet cannot be reversed or recomputed without the key.
"""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd

KEY_HEX_CHARS = 32  # 128 bits: collision-free for any realistic customer base


def pseudonym(key: bytes, customer_id: str) -> str:
    return hmac.new(key, customer_id.encode("utf-8"), hashlib.sha256).hexdigest()[:KEY_HEX_CHARS]


def pseudonymise(key: bytes, ids: pd.Series) -> pd.Series:
    """Map a column of raw ids to pseudonyms, hashing each distinct id once; nulls stay null."""
    present = ids.dropna()
    mapping = {raw: pseudonym(key, str(raw)) for raw in pd.unique(present)}
    return ids.map(mapping, na_action="ignore").astype(object).where(ids.notna(), None)
