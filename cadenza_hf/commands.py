"""Implementations of the ``cadenza`` commands (argument parsing is in ``cadenza_cli``).

Every command reports bad input as one line on stderr and exits non-zero; outputs are
written atomically, so a failed command leaves no partial file behind.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .midi_io import MidiInputError


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


def _track(value):
    if value is None:
        return None
    return int(value) if value.lstrip("-").isdigit() else value


def _output_path(path: str) -> Path:
    out = Path(path)
    if out.is_dir():
        raise CommandError(f"{out}: is a directory, expected a file name")
    if not out.parent.exists():
        raise CommandError(f"{out.parent}: output folder does not exist")
    return out


def cmd_example(args) -> int:
    from .examples import write_example_idea

    out = _output_path(args.output)
    try:
        write_example_idea(out)
    except OSError as err:
        raise CommandError(f"{out}: cannot write ({err.strerror or err})") from None
    print(f"wrote the example idea to {out}")
    return 0


def cmd_roundtrip(args) -> int:
    from .tokenization_pertok import PerTokTokenizer

    out = _output_path(args.output)
    tok = PerTokTokenizer()
    excerpt = tok.extract_excerpt(args.input, _track(args.track), args.start_bar, args.bars)
    ids = tok.encode_excerpt(excerpt)
    if args.tokens:
        print(" ".join(tok.convert_ids_to_tokens(ids)))
    try:
        tok.save_midi(ids, out, reference=excerpt)
    except OSError as err:
        raise CommandError(f"{out}: cannot write ({err.strerror or err})") from None
    meta = excerpt.meta
    print(
        f"{args.input}: track {meta.track_index} ({meta.track_name or 'unnamed'}), bars "
        f"{meta.start_bar}-{meta.start_bar + meta.bars - 1}, {excerpt.score.note_num()} notes -> "
        f"{len(ids)} tokens -> {out}"
    )
    return 0


COMMANDS = {"example": cmd_example, "roundtrip": cmd_roundtrip}


def run(args) -> int:
    try:
        return COMMANDS[args.command](args)
    except (MidiInputError, CommandError) as err:
        print(f"cadenza {args.command}: error: {err}", file=sys.stderr)
        return 2


__all__ = ["CommandError", "run"]
