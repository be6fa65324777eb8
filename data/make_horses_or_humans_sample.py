"""Rebuild ``data/horses_or_humans_sample/`` from a full copy of the horses-or-humans images.

The course's embedded default (used offline when neither TensorFlow Datasets
nor ``HORSES_OR_HUMANS_DIR`` can provide the data) is a small, balanced
sample: two poses of each of the 45 horse models and six poses of each of the
15 human models, centre-cropped and stored as 150x150 JPEG. Every rendered
model keeps its number in the file name, so the course's split by model
number (every fifth model held out) still applies to the sample.

Usage::

    python data/make_horses_or_humans_sample.py /path/to/horses_or_humans
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from PIL import Image

SIZE = 150
HORSE_POSES = (0, 5)
HUMAN_POSES = (0, 5, 10, 15, 20, 25)
_NAME = re.compile(r"^(horse|human)(\d+)-(\d+)$")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder with horses/ and humans/ (300x300 images)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("horses_or_humans_sample"))
    args = parser.parse_args()
    for class_name, poses in (("horses", HORSE_POSES), ("humans", HUMAN_POSES)):
        target = args.out / class_name
        target.mkdir(parents=True, exist_ok=True)
        kept = 0
        for path in sorted((args.source / class_name).glob("*.jpg")):
            match = _NAME.match(path.stem)
            if not match or int(match.group(3)) not in poses:
                continue
            with Image.open(path) as image:
                image.convert("RGB").resize((SIZE, SIZE), Image.Resampling.LANCZOS).save(
                    target / path.name, quality=88, optimize=True
                )
            kept += 1
        print(f"{class_name}: {kept} images -> {target}")


if __name__ == "__main__":
    main()
