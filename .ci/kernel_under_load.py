"""Run a notebook under CPU and memory pressure, as a crowded classroom machine would, and report what the runner says.

Issue: full-mode 03 once died under load with nbclient's bare assertion and the cause was never seen
again. This script makes the load on purpose, bounded in time, and checks the two things a user
depends on: that whatever happens is reported as a sentence that names the notebook, the cell and the
cause (never a bare assertion), and that running the same notebook again alone passes.

1. Start ``--cpu-hogs`` busy processes and one memory hog that touches ``--memory-gib`` GiB and keeps
   it. The hog asks the kernel's out-of-memory killer to spare it (oom_score_adj -1000, where
   allowed), so when memory runs out the notebook's kernel is the process that dies, as it would be
   beside a browser and an IDE.
2. Run the notebook through ``notebook_runner.run_one`` (what ``make run`` does) in the given mode.
3. Stop the hogs and run the notebook again alone.

Exit 0 when the loaded run either passed or failed with a clear report (the notebook's name, a cell
number and a cause), and the rerun passed. Usage::

    python .ci/kernel_under_load.py notebooks/03_lime.ipynb --mode full --memory-gib 20 --cpu-hogs 2
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils import notebook_runner  # noqa: E402

MEMORY_HOG = """
import sys, time
try:
    with open('/proc/self/oom_score_adj', 'w') as adj:
        adj.write('-1000')
except OSError:
    pass
gib = float(sys.argv[1])
block = bytearray(int(gib * 2**30))
for offset in range(0, len(block), 4096):  # touch every page so the memory is really taken
    block[offset] = 1
print('memory hog holds', gib, 'GiB', flush=True)
while True:
    time.sleep(1)
"""

CPU_HOG = "while True:\n    pass\n"


def available_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def run(notebook: Path, mode: str, timeout: int) -> tuple[bool, str, float]:
    """(passed, the runner's report, seconds) for one ``run_one`` of ``notebook`` in ``mode``."""
    os.environ["COURSE_MODE"] = mode
    os.environ.pop("COURSE_QUICK", None)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as out:
        try:
            notebook_runner.run_one(notebook, Path(out), timeout=timeout)
            return True, "ok", time.monotonic() - started
        except notebook_runner.NotebookFailed as failure:
            return False, str(failure), time.monotonic() - started
        except Exception as failure:  # anything else escaping the runner is itself a finding
            return False, f"UNREPORTED {type(failure).__name__}: {failure!r}", time.monotonic() - started


def clear_report(report: str, notebook: Path) -> bool:
    """Names the notebook and a cell, and says more than a bare assertion."""
    return (
        report.startswith(notebook.name)
        and re.search(r"cell -?\d+", report) is not None
        and not report.startswith("UNREPORTED")
        and not re.search(r"AssertionError\s*$|: \(\)$", report.splitlines()[0])
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--mode", default="full", choices=["quick", "cpu", "full"])
    parser.add_argument("--memory-gib", type=float, default=None, help="default: all available memory but 1.5 GiB")
    parser.add_argument("--cpu-hogs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--timeout", type=int, default=900, help="per notebook run, seconds")
    args = parser.parse_args(argv)
    notebook = args.notebook.resolve()
    memory = args.memory_gib if args.memory_gib is not None else max(0.5, available_gib() - 1.5)
    print(f"{notebook.name}, {args.mode} mode; {available_gib():.1f} GiB available before the load", flush=True)

    hogs = [subprocess.Popen([sys.executable, "-c", CPU_HOG]) for _ in range(args.cpu_hogs)]
    hog = subprocess.Popen([sys.executable, "-c", MEMORY_HOG, str(memory)], stdout=subprocess.PIPE, text=True)
    hogs.append(hog)
    try:
        print((hog.stdout.readline() if hog.stdout else "").strip(), flush=True)
        print(f"{args.cpu_hogs} CPU hog(s) running; {available_gib():.1f} GiB left for the notebook", flush=True)
        loaded_ok, loaded_report, loaded_s = run(notebook, args.mode, args.timeout)
        if hog.poll() is not None:
            # Seen on a 24 GiB VM: its out-of-memory handling killed the hog, oom_score_adj notwithstanding,
            # so the notebook ran its end without that pressure. Say so: the run did not test what it meant to.
            print(
                f"the memory hog was killed during the run (exit {hog.returncode}); the notebook's kernel was not",
                flush=True,
            )
    finally:
        for process in hogs:
            process.kill()
            process.wait()
    print(f"under load: {'passed' if loaded_ok else 'FAILED'} in {loaded_s:.0f} s", flush=True)
    if not loaded_ok:
        print("  the runner reported: " + loaded_report.replace("\n", "\n    "), flush=True)
    alone_ok, alone_report, alone_s = run(notebook, args.mode, args.timeout)
    print(f"alone, after the load: {'passed' if alone_ok else 'FAILED'} in {alone_s:.0f} s", flush=True)
    if not alone_ok:
        print("  the runner reported: " + alone_report.replace("\n", "\n    "), flush=True)
    reported = loaded_ok or clear_report(loaded_report, notebook)
    if not reported:
        print("the loaded run failed without a clear report (notebook, cell, cause)", flush=True)
    return 0 if reported and alone_ok else 1


if __name__ == "__main__":
    sys.exit(main())
