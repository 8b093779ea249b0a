"""The ``cadenza`` command line.

This module is deliberately outside the ``cadenza_hf`` package: importing
``cadenza_hf`` registers models with transformers and so imports torch (seconds),
while ``cadenza --help`` must answer at once. Argument parsing lives here with only
the standard library; each command imports ``cadenza_hf.commands`` when it runs.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cadenza",
        description="Expressive variations of MIDI ideas: PerTok tokenizer, Cadenza composer and performer.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("example", help="write the project's own 4-bar example idea as MIDI")
    p.add_argument("output", help="MIDI file to write")

    p = sub.add_parser("roundtrip", help="tokenize a MIDI excerpt with PerTok and write the decoded MIDI back")
    p.add_argument("input", help="MIDI file to read")
    p.add_argument("-o", "--output", required=True, help="MIDI file to write")
    _add_window_args(p)
    p.add_argument("--tokens", action="store_true", help="also print the tokens")
    return parser


def _add_window_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--track", default=None, help="track index or name (default: the busiest track)")
    p.add_argument("--start-bar", type=int, default=0, help="first bar of the excerpt (default 0)")
    p.add_argument("--bars", type=int, default=4, help="number of bars (default 4)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from cadenza_hf import commands

    return commands.run(args)


if __name__ == "__main__":
    sys.exit(main())
