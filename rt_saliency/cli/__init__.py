"""The ``rt-saliency`` command line: one module per sub-command, dispatched here.

Each module named in :data:`COMMANDS` defines ``register(subparsers)``, which adds its parser and
sets ``func`` to a callable taking the parsed namespace and returning an exit status.  The command
modules import the library at their top, like every module of the package; only the module of the
command being run is loaded (by name, from :data:`COMMANDS`), so ``run --backend prior`` starts
without torch or matplotlib and ``--help`` lists every command from the table alone.

Exit status: 0 success; 1 a run-time failure (backend, encoder, stream); 2 the caller's mistake
(bad option, missing or malformed input); 130 interrupted before a clean drain; 70 an internal
error (a bug: the traceback is printed).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from rt_saliency import __version__
from rt_saliency.errors import RtSaliencyError
from rt_saliency.redact import RedactingFilter, redact_url


@dataclass(frozen=True)
class Command:
    """A sub-command: the module under :mod:`rt_saliency.cli` that registers it, and its line in
    ``rt-saliency --help`` (the module's own ``help=`` says the same; a test keeps them equal)."""

    module: str
    summary: str


#: the sub-commands, in ``--help`` order
COMMANDS: dict[str, Command] = {
    "info": Command("info", "params and MACs per frame of a TP-CMRNet variant"),
    "synth": Command("synth", "generate a synthetic data set (DHF1K layout) with motion-driven "
                     "fixations"),
    "flow-cache": Command("flow_cache", "precompute and cache optical flow of a data set (int16, "
                          "with a manifest)"),
    "train": Command("train", "train TP-CMRNet on one or more data set roots"),
    "evaluate": Command("evaluate", "AUC-J, SIM, sAUC, CC, NSS of a checkpoint (or a streaming "
                        "predictor) and of a centre-bias baseline"),
    "ablate": Command("ablate", "train + evaluate every Table-1 ablation row (S=3..11, no "
                      "fusion/attention, uni-LSTM)"),
    "export": Command("export", "export TP-CMRNet's streaming graphs (encoder, fixed-window head) "
                      "to ONNX"),
    "build-engine": Command("build_engine", "build TensorRT engines from ONNX graphs (needs "
                            "TensorRT and an NVIDIA GPU)"),
    "run": Command("run", "stream a file, RTSP URL, camera or pipe and emit per-frame QP-offset "
                   "maps"),
    "compare": Command("compare", "compression report: x264 with and without saliency QP "
                       "offsets"),
    "demo": Command("demo", "run the whole chain on a generated clip and report"),
}

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

log = logging.getLogger("rt_saliency")


def command_module(name: str) -> object:
    """The module that implements sub-command *name* (imported on first use)."""
    return importlib.import_module(f"{__name__}.{COMMANDS[name].module}")


def _selected(argv: Sequence[str]) -> str | None:
    """The sub-command named in *argv* (the first word that is not an option), if any."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


class _Parser(argparse.ArgumentParser):
    """argparse with a usage error in one line (as every other refusal of the CLI), naming
    ``--help`` instead of printing the whole usage; sub-command parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {_one_line(redact_url(message))} "
                              f"(see {self.prog} --help)\n")


def build_parser(argv: Sequence[str] | None = None, *, load_all: bool = False
                 ) -> argparse.ArgumentParser:
    """The CLI's parser; the command named in *argv* (or every one, with *load_all*) gets its
    full parser, the others only their line in ``--help``."""
    selected = _selected(sys.argv[1:] if argv is None else argv)
    parser = _Parser(
        prog="rt-saliency",
        description="Real-time video saliency (TP-CMRNet) and saliency-guided QP offsets.",
    )
    parser.add_argument("--version", action="version", version=f"rt-saliency {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name, command in COMMANDS.items():
        if load_all or name == selected:
            command_module(name).register(subparsers)  # type: ignore[attr-defined]
        else:
            subparsers.add_parser(name, help=command.summary, add_help=False)
    return parser


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 0 else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit status (see the module docstring)."""
    try:
        parser = build_parser(argv)
    except KeyboardInterrupt:  # while the command's modules load
        print("rt-saliency: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    args = parser.parse_args(argv)
    _setup_logging(args.verbose, args.quiet)
    try:
        status = args.func(args)
        status = EXIT_OK if status is None else int(status)
    except RtSaliencyError as exc:
        print(f"rt-saliency: error: {_one_line(redact_url(str(exc)))}", file=sys.stderr)
        status = exc.exit_code
    except KeyboardInterrupt:
        print("rt-saliency: interrupted", file=sys.stderr)
        status = EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (``| head``): not an error of ours.
        status = EXIT_OK
    except MemoryError as exc:
        print(f"rt-saliency: error: out of memory{f' ({exc})' if str(exc) else ''}",
              file=sys.stderr)
        status = EXIT_FAILURE
    except Exception:  # noqa: BLE001 - anything else is our bug: show it in full
        log.exception("internal error (please report it with the traceback above)")
        status = EXIT_INTERNAL
    _release_stdout()
    if argv is None and _stuck_pipeline_threads():
        # a stage blocked in a read (an idle stdin) cannot be joined; the interpreter's own
        # shutdown would abort on the stream lock it holds, so leave without it
        sys.stderr.flush()
        os._exit(status)
    return status


def _stuck_pipeline_threads() -> bool:
    return any(t.name.startswith("rts-") and t.is_alive() for t in threading.enumerate())


def _one_line(text: str) -> str:
    """Errors are reported on one line (an FFmpeg message may carry newlines)."""
    return " ".join(text.split())


def _release_stdout() -> None:
    """Flush stdout now; if its reader left or its disk is full, point it at /dev/null so the
    interpreter's own flush at exit cannot print a second error."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass
