"""Saving and pushing models with their model card as ``README.md``.

transformers' ``save_pretrained`` writes no card, and ``push_to_hub`` writes the card
it finds in the repo or a generic one, over any ``README.md`` in the saved folder. The
cadenza cards (``model_cards/*.md``) are therefore put in place here, at the package
level, instead of by overriding ``save_pretrained`` in the model classes (which import
only torch and transformers):

- :func:`save_with_card` saves a model (with its tokenizer) or a pipeline, then writes
  the card as ``README.md``;
- :func:`push_with_card` stages the same folder, or the shippable files of an existing
  model folder (:func:`model_files`), and uploads it with ``HfApi.upload_folder`` in one
  commit, after ``HfApi.create_repo(exist_ok=True)``.

After a first :func:`push_with_card`, a later ``model.push_to_hub(repo)`` keeps the
card: transformers loads the repo's ``README.md`` and writes it back.
"""

from __future__ import annotations

import shutil
import tempfile
from fnmatch import fnmatch
from pathlib import Path

from .cards import read_card

# What a model repo (or a packaged checkpoint) holds: weights, configs, tokenizer files,
# the remote-code module of a saved pipeline, and performers saved next to a composer.
MODEL_FILE_PATTERNS = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
    "tokenizer_config.json",
    "vocab.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "cadenza_pipeline.py",
)
SUBFOLDER_PATTERN = "performer-*"
CARD_NAME = "README.md"


def model_files(folder) -> list[Path]:
    """Paths (relative to ``folder``) of the files worth shipping from a model folder.

    Training leftovers (``checkpoint-*``, optimizer state, ``training_args.bin``, logs)
    are not included. Raises FileNotFoundError if there is no ``config.json``.
    """
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder}: no config.json, not a saved model folder")
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or not any(fnmatch(rel.name, p) for p in MODEL_FILE_PATTERNS):
            continue
        if len(rel.parts) == 1 or (len(rel.parts) == 2 and fnmatch(rel.parts[0], SUBFOLDER_PATTERN)):
            found.append(rel)
    return found


def copy_model_files(source, destination) -> list[Path]:
    """Copy :func:`model_files` of ``source`` into ``destination``; return them."""
    files = model_files(source)
    for rel in files:
        (Path(destination) / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(source) / rel, Path(destination) / rel)
    return files


def save_with_card(obj, save_directory, card, tokenizer=None) -> Path:
    """``obj.save_pretrained(save_directory)`` (and the tokenizer's), then the card as README.md.

    Args:
        obj: a model, a tokenizer or a cadenza pipeline (anything with ``save_pretrained``).
        save_directory: the folder to write.
        card: the card as a path, a ``huggingface_hub.ModelCard`` or markdown text;
            checked first (YAML metadata parses, no placeholder left).
        tokenizer (*optional*): saved next to a model, so ``AutoTokenizer`` loads the folder.
    """
    text = read_card(card)
    save_directory = Path(save_directory)
    obj.save_pretrained(save_directory)
    if tokenizer is not None:
        tokenizer.save_pretrained(save_directory)
    (save_directory / CARD_NAME).write_text(text, encoding="utf-8")
    return save_directory


def stage_for_hub(source, folder, card, tokenizer=None) -> list[Path]:
    """Fill ``folder`` with what :func:`push_with_card` uploads; return the relative paths."""
    if isinstance(source, (str, Path)):
        text = read_card(card)
        copy_model_files(source, folder)
        (Path(folder) / CARD_NAME).write_text(text, encoding="utf-8")
    else:
        save_with_card(source, folder, card, tokenizer)
    return sorted(p.relative_to(folder) for p in Path(folder).rglob("*") if p.is_file())


def push_with_card(
    source,
    repo_id: str,
    card,
    *,
    tokenizer=None,
    private: bool | None = None,
    token: str | bool | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
    create_pr: bool = False,
):
    """Upload a model (object or saved folder) with its card as README.md, in one commit.

    Args:
        source: a model, tokenizer or cadenza pipeline, or a saved model folder (only
            :func:`model_files` are uploaded from a folder).
        repo_id: ``"org/name"`` on the Hub (created if missing).
        card: as for :func:`save_with_card`.
        tokenizer (*optional*): uploaded next to a model object.
        private, token, revision, commit_message, create_pr: as for ``HfApi``.

    Returns:
        The ``CommitInfo`` of the upload.
    """
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    with tempfile.TemporaryDirectory() as staging:
        stage_for_hub(source, staging, card, tokenizer)  # fail on a bad card before touching the Hub
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model").repo_id
        return api.upload_folder(
            repo_id=repo_id,
            folder_path=staging,
            repo_type="model",
            revision=revision,
            commit_message=commit_message or "Upload model and model card",
            create_pr=create_pr,
        )


__all__ = [
    "CARD_NAME",
    "MODEL_FILE_PATTERNS",
    "copy_model_files",
    "model_files",
    "push_with_card",
    "save_with_card",
    "stage_for_hub",
]
