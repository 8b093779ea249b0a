"""Argument parsing of the ``cadenza`` command line (standard library only).

``cadenza --help`` must answer at once, so this module imports nothing heavy; each
command imports its implementation (:mod:`cadenza_hf.cli.commands`) when it runs.
"""

from __future__ import annotations

import argparse
import sys

# Commands whose arguments all belong to a training or evaluation entry point of the
# package: "cadenza train composer ..." runs cadenza_hf.training.composer.main(...).
# (train-composer / train-performer are the older spellings, kept as aliases.)
FORWARDED = {
    ("train", "composer"): "cadenza_hf.training.composer",
    ("train", "performer"): "cadenza_hf.training.performer",
    ("evaluate", "composer"): "cadenza_hf.evaluation.evaluate_composer",
    ("evaluate", "performer"): "cadenza_hf.evaluation.evaluate_performer",
    ("build-dataset", None): "cadenza_hf.data.__main__",
}
ALIASES = {"train-composer": ("train", "composer"), "train-performer": ("train", "performer")}


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
    p.add_argument(
        "--strength",
        type=float,
        default=None,
        help="variation strength in [0, 1]: 0 stays close to the idea, 1 ignores it (default: the composer's)",
    )
    p.add_argument(
        "--kind",
        choices=("melody", "polyphonic"),
        default=None,
        help="vary a pitched idea as a melody or with chords (default: the idea's own kind)",
    )
    p.add_argument(
        "--keep-bars",
        default=None,
        metavar="N[,N...]",
        help="bars of the idea to keep exactly, counted from 1 (e.g. 1,2); the other bars are varied",
    )
    _add_model_args(p, composer=True)
    _add_sampling_args(p)
    p.add_argument("--plot", action="store_true", help="also write a piano-roll PNG (needs matplotlib)")
    _add_audio_arg(p)

    p = sub.add_parser("generate", help="write new ideas from scratch (no input)")
    _add_output_dir(p, "folder for <kind>_idea1.mid, ... (created if missing)")
    p.add_argument("-n", "--num-ideas", type=int, default=4, help="number of ideas (default 4)")
    p.add_argument(
        "--kind",
        choices=("drums", "melody", "polyphonic"),
        default="polyphonic",
        help="drums, melody (one note at a time) or polyphonic (default)",
    )
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
    p.add_argument(
        "--point-estimate",
        choices=["mean", "argmax", "median"],
        help="with --temperature 0: the value nearest the expected one per note (mean, the pipeline's default), "
        "the most likely one (argmax) or the median, the least expected absolute error",
    )
    _add_style_arg(p)
    p.add_argument(
        "--steps",
        type=int,
        help="performer passes: 1 one-shot (the paper's), more iterative unmasking (default: the performer's own)",
    )
    p.add_argument(
        "--keep-performance",
        action="store_true",
        help="keep the input's own expressive velocities or timing and fill only the rest",
    )
    p.add_argument(
        "--humanize", type=float, default=None, help="0..1: blend the input's own values (0) with the performed (1)"
    )

    p = sub.add_parser("interpolate", help="write ideas along the path from one idea to another")
    p.add_argument("input", help="MIDI file of the first idea")
    p.add_argument("target", help="MIDI file of the last idea")
    _add_output_dir(p, "folder for <a>_to_<b>_1.mid, ... (created if missing)")
    _add_window_args(p)
    p.add_argument("--steps", type=int, default=5, help="number of ideas, both ends included (default 5)")
    _add_model_args(p, composer=True)
    _add_sampling_args(p)
    p.add_argument("--plot", action="store_true", help="also write a piano-roll PNG (needs matplotlib)")

    for command in ("train", "evaluate"):
        models = sorted({model for (cmd, model) in FORWARDED if cmd == command})
        sub.add_parser(
            command,
            add_help=False,
            usage=f"cadenza {command} {{{','.join(models)}}} [OPTIONS...]",
            help=f"{command} the composer or a performer ('cadenza {command} composer --help': options)",
        )
    sub.add_parser(
        "build-dataset",
        add_help=False,
        usage="cadenza build-dataset --input DIR --output DIR [OPTIONS...]",
        help="build a training DatasetDict of 4-bar excerpts from MIDI folders (--help: options)",
    )

    p = sub.add_parser("render", help="render a MIDI file to WAV audio with a General MIDI SoundFont")
    p.add_argument("input", help="MIDI file to render")
    p.add_argument("-o", "--output", required=True, help="WAV file to write")
    p.add_argument("--soundfont", default=None, help="a .sf2 SoundFont (default: $CADENZA_SOUNDFONT or pretty_midi's)")
    p.add_argument("--release", type=float, default=1.0, help="seconds added after the end (default 1.0)")

    p = sub.add_parser("demo", help="start the local web app (127.0.0.1; models load once and stay)")
    p.add_argument("--port", type=int, default=7860, help="port on 127.0.0.1 (default 7860)")
    p.add_argument("--share", action="store_true", help="also open a public Gradio share link (off by default)")
    p.add_argument("--open-browser", action="store_true", help="open the app in the default browser")
    _add_model_args(p, composer=True)

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
    p.add_argument(
        "--performer",
        action="append",
        default=None,
        metavar="[KIND=]PATH",
        help="performer folder or Hub id, repeatable; KIND is drums or pitched (default: the shipped ones)",
    )


def _add_audio_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--audio", action="store_true", help='also write a WAV beside each MIDI file (pip install "cadenza_hf[audio]")'
    )


def _add_style_arg(p) -> None:
    from ..hub.defaults import STYLE_NAMES

    p.add_argument(
        "--style",
        choices=list(STYLE_NAMES),
        default=None,
        help=f"performance style: {', '.join(STYLE_NAMES)} (default drums for drum tracks, pop for pitched)",
    )


def _add_sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--seed", type=int, default=None, help="random seed (same seed, same files; default: random, printed)"
    )
    p.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="composer sampling temperature, 0 = greedy (default: the composer's generation_config.json)",
    )


def _add_window_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--track", default=None, help="track index or name (default: the busiest track)")
    p.add_argument(
        "--start-bar",
        type=int,
        default=None,
        help="first bar of the excerpt, counted from 0 (default: the first window of --bars bars with notes)",
    )
    p.add_argument("--bars", type=int, default=4, help="number of bars (default 4)")
    p.add_argument(
        "--meter",
        default=None,
        metavar="N/D",
        help="read every bar in this meter, e.g. 4/4, instead of the file's time signatures (for 1/4 or 2/4 on every bar)",
    )


def forwarded(argv: list[str]) -> tuple[str, str, list[str]] | None:
    """``(command, module, rest)`` when ``argv`` names a forwarded command, else None.

    Raises:
        SystemExit: the command needs a model name (composer or performer) and got none.
    """
    if not argv:
        return None
    head, rest = ALIASES.get(argv[0], (argv[0], None)), argv[1:]
    command, model = head
    if (command, None) in FORWARDED:
        return command, FORWARDED[(command, None)], rest
    models = sorted({m for (cmd, m) in FORWARDED if cmd == command})
    if not models:
        return None
    if model is None:
        usage = f"usage: cadenza {command} {{{','.join(models)}}} [OPTIONS...]"
        if rest and rest[0] in ("-h", "--help"):
            print(usage)
            raise SystemExit(0)
        if not rest or rest[0] not in models:
            print(f"{usage}\ncadenza {command}: error: say which model: {' or '.join(models)}", file=sys.stderr)
            raise SystemExit(2)
        model, rest = rest[0], rest[1:]
    return f"{command} {model}", FORWARDED[(command, model)], rest


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        target = forwarded(argv)
    except SystemExit as stop:
        return int(stop.code)
    if target is not None:  # every argument (--help included) belongs to the entry point
        from . import commands

        return commands.run_module(*target)
    args = build_parser().parse_args(argv)
    from . import commands

    return commands.run(args)


if __name__ == "__main__":
    sys.exit(main())
