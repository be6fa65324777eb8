"""The two ways to install the course (pip, conda) must not drift apart."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10, the oldest the course declares: the same parser, from PyPI
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _normalise(requirement: str) -> str:
    return requirement.replace(" ", "").lower().replace("_", "-")


def test_environment_yml_lists_exactly_the_pyproject_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_normalise(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    listed = {_normalise(r) for r in pip_section if not r.startswith("-e")}
    assert listed == wanted, f"only in environment.yml: {sorted(listed - wanted)}; only in pyproject: {sorted(wanted - listed)}"
    assert "-e ." in pip_section
    assert any(str(d).startswith("python=3.11") for d in environment["dependencies"])


def test_class_index_ships_with_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "resources/*.json" in project["tool"]["setuptools"]["package-data"]["course_utils"]
    assert (ROOT / "course_utils" / "resources" / "imagenet_class_index.json").is_file()
    assert (ROOT / "data" / "CREDITS.md").is_file()


def test_importing_the_course_modules_prints_no_native_tensorflow_lines():
    """absl/oneDNN/cudart/cuInit lines would fill every notebook's import cell."""
    import subprocess
    import sys

    code = (
        "from course_utils import attributions, config\n"
        "import tensorflow as tf\n"
        "print(float(tf.reduce_sum(tf.ones(3))))\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "COURSE_NATIVE_LOGS"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3.0"
    for noise in ("absl", "oneDNN", "cudart", "cuInit", "cpu_feature_guard"):
        assert noise not in result.stderr, result.stderr
