"""No secret in git: detect-secrets over every tracked file against the committed, empty baseline.

Test credentials for the local S3 server carry ``# pragma: allowlist secret`` where they are
written; hashes in benchmark results are excluded by the baseline's file filter.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO, VENV_BIN

HOOK = str(VENV_BIN / "detect-secrets-hook")


def tracked_files() -> list[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: nothing is tracked")
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    return [f for f in out.stdout.splitlines() if (REPO / f).is_file()]


def test_no_tracked_file_holds_a_secret():
    result = subprocess.run([HOOK, "--baseline", ".secrets.baseline", *tracked_files()], cwd=REPO,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_scanner_finds_a_planted_key(tmp_path):
    planted = tmp_path / "settings.py"
    key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"  # pragma: allowlist secret - AWS's documentation example
    planted.write_text(f'AWS_SECRET_ACCESS_KEY = "{key}"\n')
    baseline = tmp_path / "baseline.json"
    shutil.copy(REPO / ".secrets.baseline", baseline)
    result = subprocess.run([HOOK, "--baseline", str(baseline), str(planted)], capture_output=True, text=True)
    assert result.returncode == 1 and "settings.py" in result.stdout, result.stdout + result.stderr
