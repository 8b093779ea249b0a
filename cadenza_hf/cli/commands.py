"""Implementations of the ``cadenza`` commands (argument parsing is in :mod:`.parser`).

Every command reports bad input as one line on stderr and exits non-zero; outputs are
written atomically, so a failed command leaves no partial file behind.

- ``example``, ``roundtrip``: here (tokenizer only, no model);
- ``vary``, ``generate``, ``interpolate``, ``perform``: :mod:`.music`;
- ``push``, and the runner behind ``train``, ``evaluate`` and ``build-dataset``:
  :mod:`.tools`.
"""

from __future__ import annotations

import sys

from ..tokenization.midi_io import MidiInputError
from .support import CommandError, output_file, parse_meter, parse_track


def cmd_example(args) -> int:
    from ..examples import write_example_idea

    out = output_file(args.output)
    try:
        write_example_idea(out)
    except OSError as err:
        raise CommandError(f"{out}: cannot write ({err.strerror or err})") from None
    print(f"wrote the example idea to {out}")
    return 0


def cmd_roundtrip(args) -> int:
    from ..tokenization.tokenization_pertok import PerTokTokenizer

    out = output_file(args.output)
    tok = PerTokTokenizer()
    excerpt = tok.extract_excerpt(
        args.input, parse_track(args.track), args.start_bar, args.bars, meter=parse_meter(args.meter)
    )
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


def _commands() -> dict:
    from .music import COMMANDS as MUSIC
    from .preview import COMMANDS as PREVIEW
    from .tools import COMMANDS as TOOLS

    return {"example": cmd_example, "roundtrip": cmd_roundtrip, **MUSIC, **PREVIEW, **TOOLS}


def _fail(command: str, err: Exception) -> int:
    print(f"cadenza {command}: error: {err}", file=sys.stderr)
    return 2


def run(args) -> int:
    """Run the parsed command; one line on stderr and exit status 2 for user errors."""
    try:
        return _commands()[args.command](args)
    except (MidiInputError, CommandError) as err:
        return _fail(args.command, err)


def run_module(command: str, module: str, argv: list[str]) -> int:
    """Run ``main(argv)`` of the package module behind ``command`` (see :mod:`.tools`)."""
    from .tools import run_entry_point

    try:
        return run_entry_point(module, argv)
    except CommandError as err:
        return _fail(command, err)


__all__ = ["CommandError", "run", "run_module"]
