"""The checkpoints shipped inside the package, so everything works offline by default.

the project's packaging script (``package_checkpoints.py`` in the repository) copies a trained composer and two performers into
``cadenza_hf/checkpoints/`` (installed with the package through ``package_data``)::

    cadenza_hf/checkpoints/composer/            CadenzaComposerModel + tokenizer + README.md (card)
    cadenza_hf/checkpoints/performer-drums/     performer trained on drums (Groove MIDI Dataset)
    cadenza_hf/checkpoints/performer-pitched/   performer trained on pitched tracks (POP909)

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
CHECKPOINT_NAMES = (COMPOSER, PERFORMER_DRUMS, PERFORMER_PITCHED)
# performer kind -> checkpoint folder
PERFORMER_FOLDERS = {"drums": PERFORMER_DRUMS, "pitched": PERFORMER_PITCHED}


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
    "PERFORMER_PITCHED",
    "checkpoint_dir",
    "checkpoint_path",
    "checkpoints_root",
    "default_performers",
    "has_checkpoint",
    "is_default_checkpoint",
]
