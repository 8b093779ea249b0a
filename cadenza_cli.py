"""The ``cadenza`` command line.

This module is deliberately outside the ``cadenza_hf`` package: importing
``cadenza_hf`` registers models with transformers and so imports torch (seconds),
while ``cadenza --help`` must answer at once. Argument parsing lives here with only
the standard library; each command imports ``cadenza_hf.commands`` when it runs.
"""

from __future__ import annotations

import argparse
import sys


# Commands that hand all their arguments to a script of the source checkout (see
# cadenza_hf.tool_commands): command -> scripts/<name>.py; "{}" is the command's first
# argument, one of EVALUATED ("cadenza evaluate composer ..." runs evaluate_composer.py).
FORWARDED = {"train-composer": "train_composer", "train-performer": "train_performer", "evaluate": "evaluate_{}"}
EVALUATED = ("composer", "performer")


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

    p = sub.add_parser("vary", help="write variations of a MIDI idea (composer, then performer)")
    p.add_argument("input", help="MIDI file holding the idea")
    _add_output_dir(p, "folder for <idea>_var1.mid, ... (created if missing)")
    _add_window_args(p)
    p.add_argument("-n", "--num-variations", type=int, default=4, help="number of variations (default 4)")
    p.add_argument("--strength", type=float, default=None,
                   help="variation strength in [0, 1]: 0 stays close to the idea, 1 ignores it (default 0.5)")
    p.add_argument("--kind", choices=("melody", "polyphonic"), default=None,
                   help="vary a pitched idea as a melody or with chords (default: the idea's own kind)")
    _add_model_args(p, composer=True)
    _add_sampling_args(p)
    p.add_argument("--plot", action="store_true", help="also write a piano-roll PNG (needs matplotlib)")

    p = sub.add_parser("generate", help="write new ideas from scratch (no input)")
    _add_output_dir(p, "folder for <kind>_idea1.mid, ... (created if missing)")
    p.add_argument("-n", "--num-ideas", type=int, default=4, help="number of ideas (default 4)")
    p.add_argument("--kind", choices=("drums", "melody", "polyphonic"), default="polyphonic",
                   help="drums, melody (one note at a time) or polyphonic (default)")
    p.add_argument("--bars", type=int, default=4, help="number of bars (default 4)")
    p.add_argument("--time-signature", default="4/4", help="meter, e.g. 3/4 (default 4/4)")
    p.add_argument("--qpm", type=float, default=120.0, help="tempo in quarter notes per minute (default 120)")
    _add_model_args(p, composer=True)
    _add_sampling_args(p)
    p.add_argument("--plot", action="store_true", help="also write a piano-roll PNG (needs matplotlib)")

    p = sub.add_parser("perform", help="humanise a quantized MIDI excerpt (velocity and microtiming)")
    p.add_argument("input", help="MIDI file to perform")
    p.add_argument("-o", "--output", required=True, help="MIDI file to write")
    _add_window_args(p)
    _add_model_args(p, composer=False)
    p.add_argument("--seed", type=int, default=None, help="random seed (same seed, same file)")
    p.add_argument("--temperature", type=float, default=1.0, help="0 for one deterministic performance (default 1.0)")
    p.add_argument("--point-estimate", choices=["argmax", "median"], default="argmax",
                   help="with --temperature 0: the most likely velocity/offset per note (argmax, default) or the "
                        "median, the least expected absolute error")

    p = sub.add_parser("interpolate", help="write ideas along the path from one idea to another")
    p.add_argument("input", help="MIDI file of the first idea")
    p.add_argument("target", help="MIDI file of the last idea")
    _add_output_dir(p, "folder for <a>_to_<b>_1.mid, ... (created if missing)")
    _add_window_args(p)
    p.add_argument("--steps", type=int, default=5, help="number of ideas, both ends included (default 5)")
    _add_model_args(p, composer=True)
    _add_sampling_args(p)
    p.add_argument("--plot", action="store_true", help="also write a piano-roll PNG (needs matplotlib)")

    for name, script in FORWARDED.items():
        what = "{" + ",".join(EVALUATED) + "} " if "{}" in script else ""
        sub.add_parser(name, add_help=False, usage=f"cadenza {name} {what}[SCRIPT ARGS...]",
                       help=f"{what}run scripts/{script.format('<model>')}.py of a source checkout (--help: its options)")

    p = sub.add_parser("push", help="upload a model folder with its model card (README.md) to the Hugging Face Hub")
    p.add_argument("folder", help="saved model folder (config, weights, tokenizer)")
    p.add_argument("--repo-id", required=True, help="Hub repository, e.g. my-org/cadenza-composer")
    p.add_argument("--card", default=None, help="model card markdown (default: FOLDER/README.md)")
    p.add_argument("--private", action="store_true", help="create the repository private")
    p.add_argument("--commit-message", default=None, help="commit message")
    return parser


def _add_output_dir(p: argparse.ArgumentParser, help_text: str) -> None:
    p.add_argument("-o", "--output-dir", required=True, help=help_text)


def _add_model_args(p: argparse.ArgumentParser, composer: bool) -> None:
    if composer:
        p.add_argument("--composer", default=None, help="composer folder or Hub id (default: the shipped one)")
    p.add_argument("--performer", action="append", default=None, metavar="[KIND=]PATH",
                   help="performer folder or Hub id, repeatable; KIND is drums or pitched (default: the shipped ones)")


def _add_sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=None, help="random seed (same seed, same files; default: random, printed)")
    p.add_argument("--temperature", type=float, default=1.0, help="composer sampling temperature, 0 = greedy (default 1.0)")


def _add_window_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--track", default=None, help="track index or name (default: the busiest track)")
    p.add_argument("--start-bar", type=int, default=0, help="first bar of the excerpt (default 0)")
    p.add_argument("--bars", type=int, default=4, help="number of bars (default 4)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in FORWARDED:  # every argument (--help included) belongs to the script
        command, script, rest = argv[0], FORWARDED[argv[0]], argv[1:]
        if "{}" in script:
            if not rest or rest[0] not in EVALUATED:
                usage = f"usage: cadenza {command} {{{','.join(EVALUATED)}}} [SCRIPT ARGS...]"
                if rest and rest[0] in ("-h", "--help"):
                    print(usage)
                    return 0
                print(f"{usage}\ncadenza {command}: error: say which model to evaluate: {' or '.join(EVALUATED)}",
                      file=sys.stderr)
                return 2
            script, rest = script.format(rest[0]), rest[1:]
        from cadenza_hf import commands

        return commands.run_script(command, script, rest)
    args = build_parser().parse_args(argv)
    from cadenza_hf import commands

    return commands.run(args)


if __name__ == "__main__":
    sys.exit(main())
