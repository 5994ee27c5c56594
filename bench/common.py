"""What every benchmark records the same way: the machine, its load, a dense-arithmetic reference, the result file."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


def load() -> list[float]:
    """1, 5 and 15-minute load averages: figures are only as quiet as the machine was."""
    return [round(x, 2) for x in os.getloadavg()]


def git(*cmd: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *cmd], capture_output=True, text=True).stdout.strip()


def machine_base(watched: str = "packaging_pipeline") -> dict[str, Any]:
    """CPU, memory, kernel, Python, and the code measured (HEAD plus uncommitted files under ``watched``)."""
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    mem = next((ln.split()[1] for ln in open("/proc/meminfo") if ln.startswith("MemTotal")), "0")
    return {
        "git_head": git("rev-parse", "--short", "HEAD"),
        "uncommitted": [ln.split(maxsplit=1)[-1] for ln in git("status", "--porcelain", "--", watched).splitlines()],
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(int(mem) / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def matmul_reference(n: int = 1024, repeat: int = 20) -> dict[str, Any]:
    """float32 n x n matmul with numpy's BLAS: what the cores give to plain dense arithmetic right now."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # warm-up: thread pool start, page faults
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    flops = 2 * n**3
    return {
        "n": n,
        "repeat": repeat,
        "s_median": round(float(np.median(times)), 5),
        "gflops_per_s_median": round(flops / float(np.median(times)) / 1e9, 2),
        "gflops_per_s_best": round(flops / min(times) / 1e9, 2),
        "load_after": load(),
    }


def write_result(result: dict[str, Any], name: str, out: str | None = None) -> Path:
    """The run's JSON under bench/results/<name>_<timestamp>.json (or ``out``)."""
    path = Path(out or BENCH / "results" / f"{name}_{dt.datetime.now():%Y%m%dT%H%M%S}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    return path
