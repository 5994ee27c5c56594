"""Segment messages printed on the box, by the segment's top category, from ``data/messages.yaml`` or a user's copy."""

from __future__ import annotations

import os
from typing import Annotated, Any

from pydantic import ConfigDict, Strict, field_validator

from packaging_pipeline.core.config_files import ConfigModel, got, load_config, problems

MESSAGES_FILE = "messages.yaml"


class MessagesFile(ConfigModel):
    """``data/messages.yaml``: a ``messages:`` map of top category -> message, with a ``default``."""

    model_config = ConfigDict(title="segment messages")

    version: Any = None
    messages: Annotated[dict[Any, Any], Strict()]

    @field_validator("messages")
    @classmethod
    def _has_a_default(cls, messages: dict[Any, Any]) -> dict[str, str]:
        if not isinstance(messages.get("default"), str):
            fix = "missing; add the message for every other category" if "default" not in messages else (
                f"expected the message for every other category as text, got {got(messages['default'])}")  # fmt: skip
            raise problems([(("default",), fix, messages.get("default"))])
        return {str(k): str(v) for k, v in messages.items()}


def load_messages(path: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Segment messages by top category (``default`` for the rest), from packaged YAML or a user file.

    Raises:
        InputError: unreadable file, invalid YAML, no ``messages:`` map or no text ``default`` in it;
            the message names the file and the field.
    """
    return dict(load_config(MessagesFile, MESSAGES_FILE, path).messages)
