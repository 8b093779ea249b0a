"""``cadenza train-composer | train-performer | evaluate composer|performer | push``.

Training and evaluation live in ``scripts/`` of the source checkout, which is not
installed (the package never imports ``scripts``). ``cadenza train-composer ARGS`` finds
``scripts/train_composer.py`` and calls its ``main(ARGS)`` (``cadenza evaluate composer
ARGS``: ``scripts/evaluate_composer.py``), looking in order at:

1. ``$CADENZA_SCRIPTS`` (a folder holding the scripts);
2. the checkout this package runs from (``pip install -e .`` puts ``cadenza_hf/`` next
   to ``scripts/``);
3. ``./scripts`` in the working directory.

From a wheel install, clone the repository and run from it (or set ``CADENZA_SCRIPTS``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from .cli_support import CommandError

ENV_VAR = "CADENZA_SCRIPTS"


def script_folders() -> list[Path]:
    """Where scripts are looked for, in order (see the module docstring)."""
    folders = []
    if os.environ.get(ENV_VAR):
        folders.append(Path(os.environ[ENV_VAR]).expanduser())
    folders.append(Path(__file__).resolve().parents[1] / "scripts")
    folders.append(Path.cwd() / "scripts")
    return folders


def find_script(name: str) -> Path:
    """The path of ``scripts/<name>.py``, or a CommandError saying where it was looked for."""
    for folder in script_folders():
        if (folder / f"{name}.py").is_file():
            return folder / f"{name}.py"
    looked = ", ".join(str(f) for f in script_folders())
    raise CommandError(
        f"{name}.py not found (looked in {looked}): it ships with the source checkout of cadenza_hf, "
        f"not with the installed package; run from a clone of the repository or set {ENV_VAR}"
    )


def run_script_main(path: Path, argv: list[str]) -> int:
    """Import the script at ``path`` under a private name and return ``main(argv)``."""
    spec = importlib.util.spec_from_file_location(f"_cadenza_script_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look the module up by name
    spec.loader.exec_module(module)
    if not hasattr(module, "main"):
        raise CommandError(f"{path}: has no main(argv) function")
    old_argv = sys.argv
    sys.argv = [str(path), *argv]  # scripts record their command line from sys.argv
    try:
        code = module.main(argv)
    finally:
        sys.argv = old_argv
    return code if isinstance(code, int) else 0  # some scripts return their result dict


def cmd_push(args) -> int:
    from .cards import read_card
    from .hub import CARD_NAME, push_with_card

    folder = Path(args.folder)
    if not (folder / "config.json").is_file():
        raise CommandError(f"{folder}: not a saved model folder (no config.json)")
    card = Path(args.card) if args.card else folder / CARD_NAME
    if not card.is_file():
        raise CommandError(f"{card}: no model card; pass --card CARD.md (model_cards/*.md after filling)")
    try:
        read_card(card)
    except ValueError as err:
        raise CommandError(f"{card}: {err}") from None
    try:
        info = push_with_card(folder, args.repo_id, card, private=args.private or None,
                              commit_message=args.commit_message)
    except Exception as err:  # network, auth and Hub errors all end the command the same way
        raise CommandError(f"push to {args.repo_id} failed: {str(err).splitlines()[0] if str(err) else err!r}") \
            from None
    print(f"pushed {folder} with {card.name} as README.md to {args.repo_id}: {getattr(info, 'commit_url', info)}")
    return 0


COMMANDS = {"push": cmd_push}

__all__ = ["COMMANDS", "ENV_VAR", "cmd_push", "find_script", "run_script_main", "script_folders"]
