"""``python -m course_utils {train, fetch-weights, run-notebooks, freeze-notebook}``."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from course_utils.cli import main

sys.exit(main())
