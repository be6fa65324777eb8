"""The LIME benchmark runs, agrees with LIME's defaults and prints its ratio line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_lime_benchmark_quick_prints_a_ratio_and_matching_weights():
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "explainers.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        env=environment,
    )
    seconds = time.perf_counter() - start
    # A non-zero exit means the batched and default runs gave different weights.
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"^lime_batched: (\d+(?:\.\d+)?)x faster", result.stdout, re.MULTILINE)
    assert match, result.stdout
    # On the tiny CNN, model.predict's per-call setup dominates, so batching must win.
    assert float(match.group(1)) > 1.0, result.stdout
    assert re.search(r"max\|diff\|/max\|w\| = \S+ <= ", result.stdout), result.stdout
    assert seconds < 30, f"the quick benchmark took {seconds:.0f} s (budget 30 s)"
