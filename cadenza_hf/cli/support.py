"""Helpers of the ``cadenza`` commands: user-facing errors, output checks, model loading."""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
from pathlib import Path


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


def parse_track(value):
    """A ``--track`` value: an int index when it looks like one, else a name (None stays None)."""
    if value is None:
        return None
    return int(value) if value.lstrip("-").isdigit() else value


def parse_bar_list(option: str, value: str) -> list[int]:
    """``"1,2"`` -> ``[1, 2]``: bar numbers counted from 1; a CommandError for anything else."""
    try:
        bars = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        bars = []
    if not bars or any(b < 1 for b in bars):
        raise CommandError(f"{option} takes bar numbers counted from 1, separated by commas (e.g. 1,2), got {value!r}")
    return bars


def output_file(path: str) -> Path:
    """Check that ``path`` can be written as a file (its folder exists, it is not a folder)."""
    out = Path(path)
    if out.is_dir():
        raise CommandError(f"{out}: is a directory, expected a file name")
    if not out.parent.exists():
        raise CommandError(f"{out.parent}: output folder does not exist")
    return out


def output_folder(path: str) -> Path:
    """Check that ``path`` is, or can be created as, a writable folder (nothing is created yet)."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise CommandError(f"{out}: exists and is not a folder")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise CommandError(f"{out}: cannot create a folder under {parent}, which is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CommandError(f"{parent}: folder is not writable")
    try:  # os.access says yes to root and knows nothing of read-only file systems: try it
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as err:
        raise CommandError(f"{parent}: folder is not writable ({err.strerror or err})") from None
    return out


def parse_meter(value: str | None):
    """A ``--meter`` value as ``(numerator, denominator)`` (None stays None)."""
    if value is None:
        return None
    from ..tokenization.tokenization_pertok import check_meter

    try:
        return check_meter(value)
    except ValueError as err:
        raise CommandError(f"--meter: {err}") from None


def check_range(name: str, value, low=None, high=None) -> None:
    """Raise CommandError if ``value`` is below ``low`` or above ``high`` (or is NaN)."""
    if value != value or (low is not None and value < low) or (high is not None and value > high):
        bounds = (
            f"in [{low}, {high}]"
            if low is not None and high is not None
            else f">= {low}"
            if low is not None
            else f"<= {high}"
        )
        raise CommandError(f"{name} must be {bounds}, got {value}")


def pick_seed(seed: int | None) -> int:
    """``seed``, or a fresh random one (printed by the commands, so a run can be repeated)."""
    return seed if seed is not None else random.SystemRandom().randrange(2**31)


def performer_spec(values: list[str] | None):
    """``--performer`` values as the pipelines take them: None, a list of paths, or {kind: path}."""
    if not values:
        return None
    named = [v.partition("=") for v in values]
    if all(sep and kind in ("drums", "pitched") for kind, sep, _ in named):
        spec = {kind: path for kind, _, path in named}
        if len(spec) != len(values):
            raise CommandError("--performer: each kind may be given once")
        return spec
    if any(sep and kind in ("drums", "pitched") for kind, sep, _ in named):
        raise CommandError("--performer: name the kind of every performer (drums=PATH pitched=PATH) or of none")
    return list(values)


@contextlib.contextmanager
def quiet_loading():
    """Silence transformers' and the Hub's progress bars and warnings while models load."""
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    disable_progress_bars()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
        enable_progress_bars()


def default_checkpoint(name: str) -> str:
    """The shipped checkpoint ``name`` as a path, or a CommandError saying how to pass one."""
    from ..hub import defaults

    if defaults.has_checkpoint(name):
        return str(defaults.checkpoint_path(name))
    flag = "--composer" if name == defaults.COMPOSER else "--performer"
    raise CommandError(
        f"no {name} checkpoint shipped at {defaults.checkpoint_path(name)}: pass {flag} "
        f"(a trained model folder or Hub id) or set {defaults.ENV_VAR}"
    )


def load_pipeline(task: str, what: str, **kwargs):
    """``transformers.pipeline(task, **kwargs)``, load failures turned into one-line errors."""
    from transformers import pipeline

    try:
        with quiet_loading():
            return pipeline(task, **kwargs)
    except (OSError, ValueError, TypeError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CommandError(f"cannot load the {what}: {reason}") from None


__all__ = [
    "CommandError",
    "check_range",
    "default_checkpoint",
    "load_pipeline",
    "output_file",
    "output_folder",
    "parse_meter",
    "parse_track",
    "performer_spec",
    "pick_seed",
    "quiet_loading",
]
