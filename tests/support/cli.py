"""The console script as users run it: a subprocess of the venv's ``packaging-pipeline``."""

from __future__ import annotations

import os
import subprocess

from tests.conftest import TEST_PSEUDONYM_KEY, VENV_BIN

CLI = str(VENV_BIN / "packaging-pipeline")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PACKAGING_PSEUDONYM_KEY": TEST_PSEUDONYM_KEY, **(env or {})}
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=full_env, timeout=300)
