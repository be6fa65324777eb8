"""The feature-visualization benchmark runs, checks its images and prints its ratio line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_features_benchmark_quick_prints_a_ratio_and_matching_images():
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "features.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=REPO_ROOT,
        env=environment,
    )
    # A non-zero exit means the batched images did not match the source loop's.
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"^filters_batched: (\d+(?:\.\d+)?)x faster", result.stdout, re.MULTILINE)
    assert match, result.stdout
    # Speed is the benchmark's business (run `make benchmarks`); timings are too noisy to assert here.
    wins = re.search(r"\(source loop\) (\d+)/(\d+), \(batched\) (\d+)/(\d+) live filters", result.stdout)
    assert wins and wins.group(1) == wins.group(2) and wins.group(3) == wins.group(4), result.stdout
    assert re.search(r"source loop .*: \S+ s, 16 traces", result.stdout), result.stdout
    assert re.search(r"batched .*: \S+ s, 1 trace", result.stdout), result.stdout
