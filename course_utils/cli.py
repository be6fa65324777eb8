"""The command line: ``python -m course_utils {train, fetch-weights, run-notebooks, freeze-notebook, build-site, sync-repository}``.

Imports are made inside each command, so ``run-notebooks`` (``make run``)
never loads TensorFlow in the runner process: the kernels do that, and their
start-up lines go to ``build/logs/``, not to the terminal.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

__all__ = ["main"]

#: Exit status when training finished but the model stayed below ``training.ACCURACY_FLOOR``.
EXIT_LOW_ACCURACY = 3

#: The ImageNet models ``fetch-weights`` downloads by default (see ``models.IMAGENET_MODELS``; EfficientNet-Lite0's
#: weights come installed with the course).
_IMAGENET_NAMES = ("vgg16", "vgg19", "xception", "resnet50v2")


def _fetch_weights(names: Sequence[str]) -> int:
    from course_utils import models

    for name in names:
        print(f"fetching ImageNet weights for {name} ...", flush=True)
        models.imagenet_model(name, weights="imagenet", timeout=60.0)
    print("done: the weights are in the Keras cache (~/.keras/models); copy that folder to offline machines.")
    return 0


def _run_notebooks(folder: str, out: str | None, timeout: int) -> int:
    from course_utils import config, notebook_runner

    if out:
        # The kernels inherit this, so the notebooks' own figures and GIFs land there too.
        os.environ["COURSE_OUTPUT_DIR"] = str(Path(out).expanduser().resolve())
    chosen = notebook_runner.choose_mode(dict(os.environ))
    if chosen:
        os.environ["COURSE_MODE"] = chosen  # inherited by every kernel
        print(
            f"No GPU visible: running in COURSE_MODE={chosen} (real results, sizes for a laptop; about half an "
            "hour on two cores). COURSE_MODE=full runs the full sizes.",
            flush=True,
        )
    from course_utils import course_site

    out_dir = Path(out) if out else config.output_dir()
    return notebook_runner.run_all(Path(folder), out_dir, timeout=timeout, build_site=course_site.build_after_run)


def _site_command(args: argparse.Namespace) -> int:
    from course_utils import config, course_site

    if args.command == "build-site":
        started = time.perf_counter()
        index = course_site.build_site(Path(args.out) if args.out else config.output_dir())
        print(f"course site built in {time.perf_counter() - started:.0f} s; open {index}")
        return 0
    root = Path(__file__).resolve().parents[1]
    changed = course_site.sync_repository(root)
    print(
        f"{course_site.course_settings(root).repository}: "
        + (", ".join(str(p) for p in changed) or "nothing to change")
    )
    return 0


def _whole_number(least: int, example: str) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``least``, with a message that says what would be right."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number ({example})") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{value} is too small: at least {least} ({example})")
        return value

    return parse


def _add_train_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], debug_too: argparse.ArgumentParser
) -> None:
    """Add ``train``: its data, image size, epochs, batch size, seed, output and accuracy-floor options."""
    train_cmd = commands.add_parser(
        "train", help="train the horses-vs-humans CNN and save it as .keras", parents=[debug_too]
    )
    train_cmd.add_argument(
        "--data-dir", help="folder with horses/ and humans/ (default: $HORSES_OR_HUMANS_DIR, else TFDS)"
    )
    train_cmd.add_argument(
        "--image-size", type=_whole_number(8, "pixels, e.g. 150"), default=150, help="square input size (default 150)"
    )
    train_cmd.add_argument("--epochs", type=_whole_number(1, "e.g. 15"), default=15, help="epochs (default 15)")
    train_cmd.add_argument("--batch-size", type=_whole_number(1, "e.g. 32"), default=32, help="batch size (default 32)")
    train_cmd.add_argument("--seed", type=_whole_number(0, "e.g. 0"), default=0, help="random seed (default 0)")
    train_cmd.add_argument("--no-augment", action="store_true", help="train without data augmentation")
    train_cmd.add_argument(
        "--precision",
        choices=("auto", "float32", "bfloat16"),
        default="auto",
        help="training arithmetic: bfloat16 is mixed precision (float32 weights); auto: bfloat16 where the hardware "
        "computes it natively, except in quick mode (default auto; the saved model computes in float32)",
    )
    train_cmd.add_argument(
        "--max-images", type=_whole_number(2, "e.g. 200"), default=None, help="use at most this many training images"
    )
    train_cmd.add_argument("--out", default=None, help="output .keras path (default build/horses_humans_<size>.keras)")
    train_cmd.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    train_cmd.add_argument(
        "--allow-low-accuracy",
        action="store_true",
        help="exit 0 even when validation accuracy stays below the floor (by default exit 3)",
    )


def _add_notebook_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], debug_too: argparse.ArgumentParser
) -> None:
    """Add ``fetch-weights``, ``freeze-notebook`` and ``student-edition``: the commands that prepare notebooks."""
    fetch = commands.add_parser(
        "fetch-weights", help="download ImageNet weights into the Keras cache (run online)", parents=[debug_too]
    )
    fetch.add_argument("names", nargs="*", default=list(_IMAGENET_NAMES), help="models (default: all)")

    freeze = commands.add_parser(
        "freeze-notebook",
        help="execute a notebook and keep only its # NBVAL_CHECK_OUTPUT outputs (before committing)",
        parents=[debug_too],
    )
    freeze.add_argument("notebooks", nargs="+", help="notebook files to clean in place")

    student = commands.add_parser(
        "student-edition",
        help="write the notebooks without their worked solutions (cells tagged 'solution') to build/student",
        parents=[debug_too],
    )
    student.add_argument("folder", nargs="?", default="notebooks", help="folder of NN_*.ipynb notebooks")
    student.add_argument("--out", default="build/student", help="output folder (default build/student)")


def _add_publishing_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], debug_too: argparse.ArgumentParser
) -> None:
    """Add ``run-notebooks``, ``build-site`` and ``sync-repository``: the commands that execute and publish."""
    run = commands.add_parser(
        "run-notebooks",
        help="execute every notebook and write notebooks, HTML and figures under build/",
        parents=[debug_too],
    )
    run.add_argument("folder", nargs="?", default="notebooks", help="folder of NN_*.ipynb notebooks")
    run.add_argument("--out", default=None, help="output folder (default build/)")
    run.add_argument(
        "--timeout",
        type=_whole_number(1, "seconds, e.g. 1800"),
        default=1800,
        help="seconds per cell before giving up (default 1800)",
    )
    site = commands.add_parser(
        "build-site",
        help="build the course site (build/site/) from the notebooks a finished run executed, without running them",
        parents=[debug_too],
    )
    site.add_argument("--out", default=None, help="the output folder of `make run` (default build/)")
    commands.add_parser(
        "sync-repository",
        help="write pyproject's [tool.course] repository into the notebooks' install lines and the README's Colab links",
        parents=[debug_too],
    )


def _parser() -> argparse.ArgumentParser:
    """The argument parser: global ``--debug`` (also accepted after the command) and one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils", description="Tools of the 'Seeing what CNNs see' course."
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    # Also after the command (course-train --debug); SUPPRESS keeps the parser's value when it is not given there.
    debug_too = argparse.ArgumentParser(add_help=False)
    debug_too.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_train_command(commands, debug_too)
    _add_notebook_commands(commands, debug_too)
    _add_publishing_commands(commands, debug_too)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m course_utils``; returns the exit status.

    Errors a user can fix (a missing or empty folder, an unreadable image, a
    folder that cannot be written) print one ``error:`` line that says what to
    do and return 2; ``--debug`` shows the traceback instead.
    """
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except KeyboardInterrupt as interruption:
        detail = f" ({interruption})" if str(interruption) else ""
        print(
            f"interrupted{detail}: the run stopped there and nothing half-written was kept; "
            "run the command again to finish.",
            file=sys.stderr,
        )
        return 128 + int(getattr(interruption, "signal_number", signal.SIGINT))
    except Exception as error:
        if args.debug:
            raise
        print(f"error: {_user_message(error)}", file=sys.stderr)
        return 2


def _user_message(error: BaseException) -> str:
    """One line for the user: our own messages as they are; TensorFlow's reduced to the reason it carries."""
    text = str(error).strip()
    # An image that fails to decode inside tf.data arrives wrapped in TensorFlow's op error and its traceback.
    from course_utils.data import UNDECODABLE_IMAGE_PREFIX

    reason = re.search(f"({re.escape(UNDECODABLE_IMAGE_PREFIX)} .*?)(?:\\n|$)", text)
    if reason:
        return reason.group(1)
    first = text.splitlines()[0] if text else type(error).__name__
    if isinstance(error, (OSError, ValueError, RuntimeError)) and not type(error).__module__.startswith("tensorflow"):
        return first
    return f"{type(error).__name__}: {first} (run with --debug for the traceback)"


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "fetch-weights":
        return _fetch_weights(args.names)
    if args.command == "freeze-notebook":
        from course_utils import notebook_runner

        for notebook in args.notebooks:
            notebook_runner.freeze_checked_outputs(Path(notebook))
            print(f"froze {notebook}: outputs kept only in # NBVAL_CHECK_OUTPUT cells")
        return 0
    if args.command == "run-notebooks":
        return _run_notebooks(args.folder, args.out, args.timeout)
    if args.command == "student-edition":
        from course_utils import notebook_runner

        written = notebook_runner.write_student_edition(Path(args.folder), Path(args.out))
        print(f"wrote the student edition of {len(written)} notebooks (no worked solutions) to {args.out}")
        return 0
    if args.command in ("build-site", "sync-repository"):
        return _site_command(args)
    return _train(args)


def _train(args: argparse.Namespace) -> int:
    import warnings

    from course_utils import config, training

    out = args.out or str(config.output_dir() / f"horses_humans_{args.image_size}.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", training.LowAccuracyWarning)  # said below, with the exit status
        result = training.train(
            data_dir=args.data_dir,
            image_size=args.image_size,
            epochs=args.epochs,
            batch_size=args.batch_size,
            out=out,
            overwrite=args.overwrite,
            seed=args.seed,
            augment=not args.no_augment,
            max_images=args.max_images,
            precision=None if args.precision == "auto" else args.precision,
            # A progress bar in a terminal; one line per epoch in logs and CI.
            verbose=1 if sys.stdout.isatty() else 2,
        )
    print(
        f"validation accuracy (held-out model numbers): {result.val_accuracy:.3f} at epoch {result.best_epoch} of "
        f"{len(result.history['loss'])} (the weights kept), in {result.seconds / 60:.1f} min ({result.precision} "
        f"arithmetic); saved {result.path}"
    )
    if result.below_floor:
        print(
            f"error: that is below the floor of {training.ACCURACY_FLOOR:.2f}: explanations of this model would "
            "explain a poor classifier. Train again with another --seed or more --epochs (or pass "
            "--allow-low-accuracy to keep it anyway).",
            file=sys.stderr,
        )
        return 0 if args.allow_low_accuracy else EXIT_LOW_ACCURACY
    return 0


def train_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``course-train`` command: ``python -m course_utils train`` and nothing else."""
    return main(["train", *(sys.argv[1:] if argv is None else argv)])
