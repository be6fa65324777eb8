"""Smoke runs of the benchmark scripts: they run, their results agree, their output parses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

RATIO_LINE = re.compile(
    r"^(?P<name>integrated_gradients|smoothgrad): (?P<ratio>\d+(?:\.\d+)?)x faster \("
    r".*batched (?P<batched_rate>\d+(?:\.\d+)?) GFLOP/s = \d+% of matmul peak"
    r".*relative L2 difference (?P<difference>[0-9.e+-]+) <= ",
    re.MULTILINE,
)


def test_attributions_benchmark_quick():
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "attributions.py"), "--quick"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert re.search(r"^matmul peak: \d+(\.\d+)? GFLOP/s", completed.stdout, re.MULTILINE), completed.stdout
    found = {match["name"]: match for match in RATIO_LINE.finditer(completed.stdout)}
    assert set(found) == {"integrated_gradients", "smoothgrad"}, completed.stdout
    for match in found.values():
        assert float(match["ratio"]) > 0 and float(match["batched_rate"]) > 0
        # The tiny quick-mode CNN is well conditioned: batched and naive agree closely.
        assert float(match["difference"]) <= 1e-4
