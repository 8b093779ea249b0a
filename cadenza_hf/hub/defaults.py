"""The checkpoints shipped inside the package, so everything works offline by default.

the project's packaging script (``package_checkpoints.py`` in the repository) copies a trained composer and three
performers (one per performance style) into ``cadenza_hf/checkpoints/`` (installed with the package through
``package_data``)::

    cadenza_hf/checkpoints/composer/              CadenzaComposerModel + tokenizer + README.md (card)
    cadenza_hf/checkpoints/performer-drums/       style "drums": drum tracks (Groove MIDI Dataset)
    cadenza_hf/checkpoints/performer-pitched/     style "pop": pitched tracks (POP909)
    cadenza_hf/checkpoints/performer-classical/   style "classical": pitched tracks ((n)ASAP, CC BY-NC-SA 4.0),
                                                  only when asked for (``style="classical"``)

``pipeline("midi-variation")`` with no model, ``pipeline("midi-performance")`` and the
``cadenza`` commands without ``--composer``/``--performer`` use these folders. Set
``CADENZA_CHECKPOINTS`` to a folder with the same layout to use other checkpoints
(read each time a default is resolved, except the pipeline task's registered default
model, which is read by ``register_pipelines()`` on ``import cadenza_hf``).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGED_ROOT = Path(__file__).resolve().parents[1] / "checkpoints"
ENV_VAR = "CADENZA_CHECKPOINTS"

COMPOSER = "composer"
PERFORMER_DRUMS = "performer-drums"
PERFORMER_PITCHED = "performer-pitched"
PERFORMER_CLASSICAL = "performer-classical"  # the classical style: asked for by name, never a default
CHECKPOINT_NAMES = (COMPOSER, PERFORMER_DRUMS, PERFORMER_PITCHED, PERFORMER_CLASSICAL)
# performer kind -> checkpoint folder
PERFORMER_FOLDERS = {"drums": PERFORMER_DRUMS, "pitched": PERFORMER_PITCHED}
# Performance styles (issue 16), the one place that maps them: style -> (checkpoint folder, kind of track).
# A style whose folder an installation lacks (CADENZA_CHECKPOINTS pointing elsewhere) says so when asked for.
STYLES = {
    "drums": (PERFORMER_DRUMS, "drums"),  # Groove MIDI Dataset
    "pop": (PERFORMER_PITCHED, "pitched"),  # POP909 piano
    "classical": (PERFORMER_CLASSICAL, "pitched"),  # (n)ASAP classical piano, CC BY-NC-SA 4.0
}
STYLE_NAMES = tuple(STYLES)


def default_style(drums: bool) -> str:
    """The style a track gets when none is asked for: ``drums`` for drum tracks, ``pop`` for pitched ones."""
    return "drums" if drums else "pop"


def check_style(style) -> str:
    """``style`` if it is one of :data:`STYLE_NAMES`; ValueError listing them otherwise."""
    if style not in STYLES:
        raise ValueError(f"unknown performance style {style!r}; choose one of {', '.join(STYLE_NAMES)}")
    return style


def checkpoint_root_path(folder: str) -> Path:
    """``folder`` under :func:`checkpoints_root`, resolved."""
    return (checkpoints_root() / folder).resolve()


def style_checkpoint(style: str) -> Path:
    """The checkpoint folder of a style; FileNotFoundError saying so when this installation lacks it."""
    folder = checkpoints_root() / STYLES[check_style(style)][0]
    if not ((folder / "config.json").is_file() and any(folder.glob("model*.safetensors"))):
        raise FileNotFoundError(
            f"no {style} performer at {folder}: this installation ships no trained {style} style; pass a "
            f"performer explicitly, or set {ENV_VAR} to a folder holding {STYLES[style][0]}/"
        )
    return folder


def checkpoints_root() -> Path:
    """The folder holding the default checkpoints (``$CADENZA_CHECKPOINTS`` or the packaged one)."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser().resolve() if env else PACKAGED_ROOT


def checkpoint_path(name: str) -> Path:
    """Where the default checkpoint ``name`` lives, whether or not it exists yet."""
    if name not in CHECKPOINT_NAMES:
        raise ValueError(f"unknown checkpoint {name!r}; choose one of {', '.join(CHECKPOINT_NAMES)}")
    return checkpoints_root() / name


def has_checkpoint(name: str) -> bool:
    """Whether the default checkpoint ``name`` is present (config and weights)."""
    path = checkpoint_path(name)
    return (path / "config.json").is_file() and any(path.glob("model*.safetensors"))


def checkpoint_dir(name: str) -> Path:
    """The folder of the default checkpoint ``name``.

    Raises:
        FileNotFoundError: the checkpoint is not there, with a message saying what to do.
    """
    path = checkpoint_path(name)
    if not has_checkpoint(name):
        raise FileNotFoundError(
            f"no {name} checkpoint at {path}: this installation ships no trained {name}; pass a model "
            f"folder or Hub id explicitly, or set {ENV_VAR} to a folder holding {name}/"
        )
    return path


def default_performers() -> dict[str, Path]:
    """The default performers that are present, as ``{"drums": path, "pitched": path}``."""
    return {kind: checkpoint_path(name) for kind, name in PERFORMER_FOLDERS.items() if has_checkpoint(name)}


def is_default_checkpoint(path) -> bool:
    """Whether ``path`` is one of the default checkpoint folders."""
    try:
        resolved = Path(path).resolve()
    except (TypeError, OSError):
        return False
    return any(resolved == checkpoint_path(name).resolve() for name in CHECKPOINT_NAMES)


__all__ = [
    "CHECKPOINT_NAMES",
    "COMPOSER",
    "ENV_VAR",
    "PACKAGED_ROOT",
    "PERFORMER_DRUMS",
    "PERFORMER_FOLDERS",
    "PERFORMER_CLASSICAL",
    "PERFORMER_PITCHED",
    "STYLES",
    "STYLE_NAMES",
    "checkpoint_dir",
    "checkpoint_path",
    "check_style",
    "checkpoint_root_path",
    "checkpoints_root",
    "default_style",
    "default_performers",
    "has_checkpoint",
    "is_default_checkpoint",
    "style_checkpoint",
]
