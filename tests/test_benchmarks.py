"""Smoke runs of the benchmark scripts (quick mode): they run, their results agree, their output parses.

Speed is the benchmarks' business (`make benchmarks`); timings are too noisy to assert in tests.
"""

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


def _run_quick(script: str, timeout: int) -> str:
    """Run ``benchmarks/<script> --quick`` and return its output; a non-zero exit fails the test.

    Every benchmark exits non-zero when its fast and naive results disagree.
    The timeout only guards against a hang (quick runs take seconds), not speed.
    """
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / script), "--quick"],
        cwd=REPO_ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def test_attributions_benchmark_quick():
    output = _run_quick("attributions.py", timeout=600)
    assert re.search(r"^matmul peak: \d+(\.\d+)? GFLOP/s", output, re.MULTILINE), output
    found = {match["name"]: match for match in RATIO_LINE.finditer(output)}
    assert set(found) == {"integrated_gradients", "smoothgrad"}, output
    for match in found.values():
        assert float(match["ratio"]) > 0 and float(match["batched_rate"]) > 0
        # The tiny quick-mode CNN is well conditioned: batched and naive agree closely.
        assert float(match["difference"]) <= 1e-4


def test_lime_benchmark_quick_prints_a_ratio_and_matching_weights():
    # A non-zero exit means the batched and default runs gave different weights.
    output = _run_quick("explainers.py", timeout=600)
    match = re.search(r"^lime_batched: (\d+(?:\.\d+)?)x faster", output, re.MULTILINE)
    assert match, output
    assert re.search(r"max\|diff\|/max\|w\| = \S+ <= ", output), output


def test_features_benchmark_quick_prints_a_ratio_and_matching_images():
    # A non-zero exit means the batched images did not match the source loop's.
    output = _run_quick("features.py", timeout=600)
    match = re.search(r"^filters_batched: (\d+(?:\.\d+)?)x faster", output, re.MULTILINE)
    assert match, output
    wins = re.search(r"\(source loop\) (\d+)/(\d+), \(batched\) (\d+)/(\d+) live filters", output)
    assert wins and wins.group(1) == wins.group(2) and wins.group(3) == wins.group(4), output
    assert re.search(r"source loop .*: \S+ s, 16 traces", output), output
    assert re.search(r"batched .*: \S+ s, 1 trace", output), output


def test_metrics_benchmark_quick_prints_a_ratio_and_matching_curves():
    # A non-zero exit means the batched deletion curves disagree with the one-image loop.
    output = _run_quick("metrics.py", timeout=600)
    assert re.search(r"^deletion_batched: (\d+(?:\.\d+)?)x faster", output, re.MULTILINE), output
    assert re.search(r"max\|diff\|/max\|score\| = \S+ <= ", output), output


def test_precision_benchmark_quick_prints_every_method_with_time_ratio_and_agreement():
    output = _run_quick("precision.py", timeout=600)
    rows = re.findall(r"^  (\S.*?)\s+(\d+\.\d\d)\s+(\d+\.\d\d)\s+(\d+\.\d\d)x  (.+)$", output, re.MULTILINE)
    methods = [name.split(" (")[0].split(" x")[0] for name, *_ in rows]
    assert methods == ["forward", "Grad-CAM", "IG", "SmoothGrad", "occlusion", "deletion+insertion", "LIME"], output
    assert re.search(r"completeness error \S+ \(float32\) vs \S+", output), output
    agree = re.search(r"^  bfloat16 agrees on this model \(rank correlation >= 0.99, curve AUCs within 1%\) for: (.*)$", output, re.MULTILINE)
    keep = re.search(r"^  keep float32 on this model for: (.*)$", output, re.MULTILINE)
    assert agree and keep, output
    judged = {name for line in (agree[1], keep[1]) for name in line.split(", ") if name != "none"}
    assert judged == {"Grad-CAM", "IG", "SmoothGrad", "occlusion", "deletion+insertion", "LIME"}, "every method gets one verdict"


PEER_ROW = re.compile(
    r"^(?P<method>\S.*?)\s+course\s+(?P<course>\d+\.\d\d) s  (?P<peer>\S+)\s+(?P<peer_s>\d+\.\d\d) s\s+(?P<ratio>\d+\.\d\d)x  (?P<agreement>.+)$",
    re.MULTILINE,
)


def test_peers_benchmark_quick_times_tf_keras_vis_and_lime_on_the_same_work():
    # A non-zero exit means a peer computing the same definition disagreed with the course.
    output = _run_quick("peers.py", timeout=600)
    rows = {(m["method"].split(" (")[0], m["peer"]): m for m in PEER_ROW.finditer(output)}
    assert set(rows) >= {("Grad-CAM", "tf-keras-vis"), ("SmoothGrad", "tf-keras-vis"), ("filters", "tf-keras-vis"), ("LIME", "lime")}, output
    assert all(float(m["ratio"]) > 0 for m in rows.values())
    assert float(re.search(r"rank correlation (\S+)", rows[("Grad-CAM", "tf-keras-vis")]["agreement"])[1]) >= 0.98
    ran = any(peer == "xplique" for _, peer in rows)
    assert ran or re.search(r"^xplique: skipped \(.+\)$", output, re.MULTILINE), "xplique is run or said to be skipped"


def test_overhead_benchmark_quick_prints_a_ratio_per_heavy_call():
    output = _run_quick("overhead.py", timeout=600)
    ratios = re.findall(r"^(maximize_filters|SHAP explain) \S+: (\d+\.\d\d)x the bare", output, re.MULTILINE)
    assert [name for name, _ in ratios] == ["maximize_filters", "maximize_filters", "SHAP explain"], output
    assert all(float(ratio) > 0 for _, ratio in ratios)


def test_lite0_against_vgg19_benchmark_quick_times_every_method_on_both():
    output = _run_quick("lite0_vs_vgg19.py", timeout=600)
    rows = re.findall(r"^(\S.*?)\s+(\d+\.\d{3})\s+(\d+\.\d{3})\s+(\d+\.\d)x$", output, re.MULTILINE)
    methods = [name.split(",")[0] for name, *_ in rows]
    assert methods == ["forward", "Grad-CAM", "IG", "SmoothGrad", "occlusion", "LIME", "SHAP at a middle block",
                       "deletion + insertion"], output
    assert all(float(vgg) > 0 and float(lite) > 0 for _, vgg, lite, _ in rows), output


def test_training_recipe_benchmark_quick_prints_one_row_and_a_summary():
    output = _run_quick("training_recipe.py", timeout=600)
    row = re.search(r"^\s+32\s+float32\s+0\s+(\d+)\s+(\d+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s", output, re.MULTILINE)
    assert row, output
    epochs, best, *accuracies = row.groups()
    assert 1 <= int(best) <= int(epochs) and all(0.0 <= float(a) <= 1.0 for a in accuracies), output
    assert re.search(r"^test accuracy on \d+ images of held-out models \(floor 0\.85\):", output, re.MULTILINE)
    assert re.search(r"32 px\s+float32, best epoch kept: min [0-9.]+ .* over 1 seed\(s\)", output), output


def test_training_recipe_benchmark_holds_out_whole_models(tmp_path):
    """Its third set (models 3, 8, 13, ...) shares no model with what training and validation see."""
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    try:
        import training_recipe
    finally:
        sys.path.remove(str(REPO_ROOT / "benchmarks"))
    from course_utils import data

    train, test = training_recipe.split_folders(data.embedded_sample_dir(), tmp_path)
    for class_name in data.CLASS_NAMES:
        train_models = {data.model_number(p) for p in (train / class_name).iterdir()}
        test_models = {data.model_number(p) for p in (test / class_name).iterdir()}
        assert test_models and train_models and not train_models & test_models
        assert test_models <= training_recipe.test_model_numbers(class_name)
        assert not test_models & data.validation_model_numbers(class_name), "validation models stay in train/"
