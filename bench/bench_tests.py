"""The test suite as `make test` runs it: wall time beside the CPU time it needs, spread over 2 cores.

The goal is 5 minutes on the project's 2-core machine. The baseline is measured in the same run:
the CPU seconds of pytest and every process it started (xdist workers, web servers, workers,
Chromium), divided by the 2 cores, i.e. the wall time if both cores did nothing but the suite's own
work. The ratio says how much of the wall time that is; the rest is waiting (PostgreSQL, which
runs outside the suite's processes and is not counted, peers, sleeps).
"""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.common import Row

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 300
WORKERS = 2


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run() -> list[Row]:
    """Run the whole suite once, as ``make test`` does after its installs, and time it."""
    command = [sys.executable, "-m", "pytest", "-n", str(WORKERS), "-q", "-p", "no:cacheprovider"]
    cpu_before = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
    print(summary, flush=True)
    if done.returncode != 0:
        raise RuntimeError(f"the test suite failed (exit {done.returncode}): {summary}")
    passed = re.search(r"(\d+) passed", summary)
    verdict = "met" if wall <= GOAL_SECONDS else "not met"
    return [
        Row(
            bench="test",
            case=f"`make test`'s suite, {WORKERS} xdist workers",
            value=wall,
            unit="s",
            baseline_name=f"its processes' CPU time / {WORKERS} cores",
            baseline=cpu / WORKERS,
            higher_is_better=False,
            note=f"{passed.group(1) if passed else '?'} passed; goal ≤ {GOAL_SECONDS} s: {verdict}",
            extra={"cpu_seconds": round(cpu, 1)},
        )
    ]
