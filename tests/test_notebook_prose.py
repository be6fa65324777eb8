"""Numbers in the notebooks' prose must hold in every mode (quick, cpu and full).

The notebooks' markdown is the same in every mode, so a size or count that one mode's settings set (the CNN's
image side and grids, LIME samples, IG steps, ...) may only be quoted together with the mode it belongs to, and
then it must be that mode's value. Numbers that no mode changes (VGG19's 14x14 grid, a 224x224 photo) pass.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from course_utils import config

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
SETTINGS = {mode: config.settings(mode=mode) for mode in config.MODES}
MODE_WORD = re.compile(r"\b(quick|cpu|full)(?:[- ]mode| settings)\b|\bin (quick|cpu|full) mode\b", re.IGNORECASE)
# A sentence about a model whose sizes no mode changes may quote them freely.
FIXED_ARCHITECTURE = re.compile(r"VGG|Xception|ResNet|EfficientNet|Lite0|Inception|ImageNet", re.IGNORECASE)
# An image side or a grid: "16×16", "64 px", "a 64-pixel image", "at 150 pixels" (not "a patch of 16 pixels").
SIZE = re.compile(r"\b(\d{2,3})\s*[×x]\s*(\d{2,3})\b|\b(\d{2,3})\s*px\b|\b(\d{2,3})-pixel\b|\bat (\d{2,3}) pixels\b")
COUNT = re.compile(r"\b(\d[\d,]*)\s+(samples|steps|epochs|resamples)\b")
# Which settings a count with this unit may come from.
COUNT_FIELDS = {
    "samples": ("lime_samples", "smoothgrad_samples", "shap_nsamples"),
    "steps": ("ig_steps", "fv_steps", "class_steps"),
    "epochs": ("train_epochs",),
    "resamples": ("bootstrap_resamples",),
}


def _sizes(settings: config.Settings) -> set[int]:
    """The image sides and feature-map grids that a mode sets: the CNN at 1, 1/2 and 1/4 of its side, 07's canvas."""
    side = settings.train_image_size
    return {side, side // 2, side // 4, settings.fv_image_size}


SIZES = {mode: _sizes(s) for mode, s in SETTINGS.items()}
# Sizes some modes use and others not; 224 (every ImageNet photo) and 32 (a 2x2-pooled 64 px image, but also the
# pixels of an EfficientNet cell) are sizes of fixed models too, so prose may name them without a mode.
TRAIN_SIDES = {s.train_image_size for s in SETTINGS.values()}
MODE_DEPENDENT_SIZES = (set.union(*SIZES.values()) - set.intersection(*SIZES.values())) - {224, 32}


def _counts(settings: config.Settings, unit: str) -> set[int]:
    return {int(getattr(settings, field)) for field in COUNT_FIELDS[unit]}


def _sentences(markdown: str) -> list[str]:
    """Prose sentences of a markdown cell: code spans, code blocks and LaTeX removed (they quote code, not claims)."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.DOTALL)
    text = re.sub(r"`[^`]*`|\$\$.*?\$\$|\$[^$]*\$", " ", text, flags=re.DOTALL)
    return [s for s in re.split(r"(?<=[.!?:])\s+(?=[A-Z*(])|\n\s*\n|\n\s*[-*] ", text) if s.strip()]


def _clauses(sentence: str) -> list[str]:
    return [c for c in re.split(r"[;,()]", sentence) if c.strip()]


def _mode_of(text: str) -> set[str]:
    return {(m.group(1) or m.group(2)).lower() for m in MODE_WORD.finditer(text)}


def _markdown(notebook: Path) -> list[tuple[int, str]]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [(index, "".join(cell["source"])) for index, cell in enumerate(cells) if cell["cell_type"] == "markdown"]


def prose_problems(markdown: str) -> list[str]:
    """What in one markdown cell quotes a mode's number without its mode, or with the wrong one."""
    problems = []
    for sentence in _sentences(markdown):
        sentence_modes = _mode_of(sentence)
        numbers = {int(number) for number in re.findall(r"\b\d{2,3}\b", sentence)}
        if TRAIN_SIDES <= numbers:  # "at 64, 96 or 150 px": a sentence about every mode holds in each
            sentence_modes = set(config.MODES)
        for match in SIZE.finditer(sentence):
            value = int(next(group for group in match.groups() if group))
            if value not in MODE_DEPENDENT_SIZES:
                continue
            if not sentence_modes and not FIXED_ARCHITECTURE.search(sentence):
                problems.append(f"{match.group(0)!r} is a size of some modes only, and the sentence names no mode: "
                                f"{sentence.strip()[:160]!r}")
        for clause in _clauses(sentence):
            modes = _mode_of(clause)
            if len(modes) != 1:
                continue
            (mode,) = modes
            for match in SIZE.finditer(clause):
                value = int(next(group for group in match.groups() if group))
                if value in MODE_DEPENDENT_SIZES and value not in SIZES[mode]:
                    problems.append(f"{match.group(0)!r} quoted for {mode} mode, whose sizes are "
                                    f"{sorted(SIZES[mode])}: {clause.strip()[:160]!r}")
            for match in COUNT.finditer(clause):
                value, unit = int(match.group(1).replace(",", "")), match.group(2)
                if value not in _counts(SETTINGS[mode], unit):
                    problems.append(f"{match.group(0)!r} quoted for {mode} mode, whose {unit} are "
                                    f"{sorted(_counts(SETTINGS[mode], unit))}: {clause.strip()[:160]!r}")
    return problems


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem[:2])
def test_prose_numbers_hold_in_every_mode(notebook):
    problems = [f"cell {index}: {problem}" for index, text in _markdown(notebook) for problem in prose_problems(text)]
    assert not problems, f"{notebook.name}:\n" + "\n".join(problems)


def test_the_modes_differ_in_what_the_check_reads():
    # If the presets stopped differing, the check above would have nothing to check.
    assert len({s.train_image_size for s in SETTINGS.values()}) == 3
    assert {16, 24, 37} <= MODE_DEPENDENT_SIZES


@pytest.mark.parametrize(
    ("markdown", "wrong"),
    [
        ("The map has the resolution of the layer (16×16 cells for `block3_conv2`).", True),
        ("The grid is 24×24 in quick mode.", True),
        ("The grid is 16×16 in quick mode, 24×24 in cpu mode and 37×37 in full mode.", False),
        ("Each cell of VGG19's 14×14 grid covers 16×16 pixels.", False),
        ("We train at 150 px.", True),
        ("At 64, 96 or 150 px do not expect a drawn horse.", False),
        ("A patch of 16 pixels at stride 8 in full mode.", False),
        ("LIME uses 40 samples in cpu mode.", True),
        ("LIME uses 1000 samples in cpu mode.", False),
        ("Integrated Gradients with 8 steps (quick mode).", False),
        ("A photo of 224×224 pixels.", False),
        ("Inside code: `resize(x, 16)` and $16 \\times 16$ are not prose.", False),
    ],
)
def test_the_check_catches_a_mode_specific_number(markdown, wrong):
    assert bool(prose_problems(markdown)) is wrong, prose_problems(markdown)
