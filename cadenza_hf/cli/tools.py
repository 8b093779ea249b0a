"""``cadenza train | evaluate | build-dataset | push``.

Training, evaluation and dataset building are modules of the installed package
(:mod:`cadenza_hf.training.composer`, :mod:`cadenza_hf.training.performer`,
:mod:`cadenza_hf.evaluation.evaluate_composer`, :mod:`cadenza_hf.evaluation.evaluate_performer`,
:mod:`cadenza_hf.data`), so they work from a wheel as from a checkout;
``python -m <module>`` runs the same ``main``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from .support import CommandError


def run_entry_point(module: str, argv: list[str]) -> int:
    """Import ``module`` and return its ``main(argv)`` (an int, or 0 for a result dict)."""
    entry = importlib.import_module(module)
    old_argv = sys.argv
    sys.argv = [f"cadenza ({module})", *argv]  # training records quote their command line from sys.argv
    try:
        code = entry.main(argv)
    except FileNotFoundError as err:
        raise CommandError(str(err)) from None
    finally:
        sys.argv = old_argv
    return code if isinstance(code, int) else 0  # evaluations return their result dict


def cmd_push(args) -> int:
    from ..hub.cards import read_card
    from ..hub.publishing import CARD_NAME, push_with_card

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
        info = push_with_card(
            folder, args.repo_id, card, private=args.private or None, commit_message=args.commit_message
        )
    except Exception as err:  # network, auth and Hub errors all end the command the same way
        raise CommandError(
            f"push to {args.repo_id} failed: {str(err).splitlines()[0] if str(err) else err!r}"
        ) from None
    print(f"pushed {folder} with {card.name} as README.md to {args.repo_id}: {getattr(info, 'commit_url', info)}")
    return 0


COMMANDS = {"push": cmd_push}

__all__ = ["COMMANDS", "cmd_push", "run_entry_point"]
