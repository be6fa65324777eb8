"""The LIME benchmark runs, agrees with LIME's defaults and prints its ratio line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_lime_benchmark_quick_prints_a_ratio_and_matching_weights():
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "explainers.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
        env=environment,
    )
    # A non-zero exit means the batched and default runs gave different weights.
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"^lime_batched: (\d+(?:\.\d+)?)x faster", result.stdout, re.MULTILINE)
    assert match, result.stdout
    # Speed is the benchmark's business (run `make benchmarks`); timings are too noisy to assert here.
    assert re.search(r"max\|diff\|/max\|w\| = \S+ <= ", result.stdout), result.stdout
