"""``cadenza vary | generate | interpolate | perform``: the pipelines from the command line.

Every command checks its arguments, the output location and the input MIDI before it
loads a model, writes nothing until all its outputs exist in memory, and then writes
them all or none (:func:`~cadenza_hf.io_utils.write_files_atomically`). Without
``--seed`` a random seed is drawn and printed, so any run can be repeated byte for byte.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..tokenization.midi_io import MidiInputError
from .preview import add_audio, check_audio
from .support import (
    CommandError,
    check_range,
    default_checkpoint,
    load_pipeline,
    output_file,
    output_folder,
    parse_bar_list,
    parse_meter,
    parse_track,
    performer_spec,
    pick_seed,
)

MAX_OUTPUTS = 64


def _run_pipeline(pipe, *args, **kwargs):
    """Call a pipeline; its option checks (ValueError, the one place options are validated) become one line."""
    try:
        return pipe(*args, **kwargs)
    except MidiInputError:
        raise
    except ValueError as err:
        raise CommandError(str(err)) from None


def _check_common(args) -> None:
    if args.temperature is not None:
        check_range("--temperature", args.temperature, 0)
    if getattr(args, "bars", 1) < 1:
        raise CommandError(f"--bars must be >= 1, got {args.bars}")
    if getattr(args, "plot", False):
        from ..preview.piano_roll import require_matplotlib

        try:
            require_matplotlib()
        except ImportError as err:
            raise CommandError(f"--plot: {err}") from None
    check_audio(args)


def _preflight(path: str, args):
    """Read and cut the input now, so a bad file fails before any model loads."""
    from ..tokenization.tokenization_pertok import PerTokTokenizer

    return PerTokTokenizer().extract_excerpt(
        path, parse_track(args.track), args.start_bar, args.bars, meter=parse_meter(args.meter)
    )


def _variation_pipeline(args):
    composer = args.composer or default_checkpoint("composer")
    return load_pipeline("midi-variation", "models", model=composer, performer=performer_spec(args.performer))


def _write(folder: Path, files: dict[str, bytes]) -> list[Path]:
    from ..utils.files import write_files_atomically

    try:
        return write_files_atomically(folder, files)
    except OSError as err:
        raise CommandError(f"{folder}: cannot write ({err.strerror or err})") from None


def _plot(files: dict, name: str, rolls, title: str, plot: bool) -> None:
    if plot:
        from ..preview.piano_roll import piano_roll_png

        files[name] = piano_roll_png(rolls, title)


def _report(header: str, written: list[Path]) -> None:
    print(header)
    for path in written:
        print(f"  {path}")


def _describe(excerpt, args=None) -> str:
    meta = excerpt.meta
    auto = ""
    if args is not None and args.start_bar is None and meta.start_bar > 0:
        auto = " (no --start-bar: the first bars with notes)"
    if meta.bar_meters:
        auto += " in " + ", ".join(f"{num}/{den}" for num, den in meta.bar_meters)
    elif args is not None and args.meter is None and tuple(meta.time_signature) == (2, 4):
        auto += f" in 2/4 ({meta.bars} bars are {2 * meta.bars} beats; for music in 4/4 pass --meter 4/4)"
    return (
        f"track {meta.track_index} ({meta.track_name or 'unnamed'}), "
        f"bars {meta.start_bar}-{meta.start_bar + meta.bars - 1}{auto}"
    )


def _warn_duplicates(results, what: str) -> None:
    repeats = results[0]["options"].get("duplicates", 0) if results else 0
    if repeats:
        print(
            f"warning: {repeats} of {len(results)} {what} repeat the composition of an earlier one "
            "(greedy or low-temperature decoding); raise --temperature for distinct ones",
            file=sys.stderr,
        )


def cmd_vary(args) -> int:
    folder = output_folder(args.output_dir)
    check_range("-n", args.num_variations, 1, MAX_OUTPUTS)
    _check_common(args)
    excerpt = _preflight(args.input, args)
    pipe = _variation_pipeline(args)
    seed = pick_seed(args.seed)
    results = _run_pipeline(
        pipe,
        args.input,
        track=parse_track(args.track),
        start_bar=args.start_bar,
        meter=parse_meter(args.meter),
        bars=args.bars,
        num_variations=args.num_variations,
        variation_strength=args.strength,  # None: the composer's generation_config.json says
        kind=args.kind,
        temperature=args.temperature,
        seed=seed,
        progress_bar=True,
        **({"keep_bars": parse_bar_list("--keep-bars", args.keep_bars)} if args.keep_bars else {}),
    )
    strength = results[0]["options"]["variation_strength"]
    stem = Path(args.input).stem
    files = {f"{stem}_var{i}.mid": r["midi"] for i, r in enumerate(results, 1)}
    rolls = [("idea", excerpt.score)] + [(f"var {i}", r["score"]) for i, r in enumerate(results, 1)]
    add_audio(files, args.audio)
    _plot(files, f"{stem}_variations.png", rolls, f"{stem}: strength {strength}, seed {seed}", args.plot)
    written = _write(folder, files)
    _warn_duplicates(results, "variations")
    _report(
        f"{args.input}: {_describe(excerpt, args)}; {len(results)} variations, strength {strength}, seed {seed}",
        written,
    )
    return 0


def _time_signature(text: str) -> tuple[int, int]:
    num, sep, den = text.partition("/")
    if not (sep and num.isdigit() and den.isdigit()) or int(num) < 1 or int(den) not in (1, 2, 4, 8, 16, 32):
        raise CommandError(f"--time-signature must look like 3/4 (denominator 1, 2, 4, 8, 16 or 32), got {text!r}")
    return int(num), int(den)


def cmd_generate(args) -> int:
    folder = output_folder(args.output_dir)
    check_range("-n", args.num_ideas, 1, MAX_OUTPUTS)
    check_range("--qpm", args.qpm, 1.0, 1000.0)
    _check_common(args)
    meter = _time_signature(args.time_signature)
    pipe = _variation_pipeline(args)
    seed = pick_seed(args.seed)
    results = _run_pipeline(
        pipe,
        None,
        kind=args.kind,
        bars=args.bars,
        num_variations=args.num_ideas,
        time_signature=meter,
        qpm=args.qpm,
        temperature=args.temperature,
        seed=seed,
        progress_bar=True,
    )
    files = {f"{args.kind}_idea{i}.mid": r["midi"] for i, r in enumerate(results, 1)}
    rolls = [(f"idea {i}", r["score"]) for i, r in enumerate(results, 1)]
    _plot(files, f"{args.kind}_ideas.png", rolls, f"new {args.kind} ideas, seed {seed}", args.plot)
    written = _write(folder, files)
    _warn_duplicates(results, "ideas")
    _report(f"{len(results)} new {args.kind} ideas, {args.bars} bars of {args.time_signature}, seed {seed}", written)
    return 0


def cmd_interpolate(args) -> int:
    folder = output_folder(args.output_dir)
    check_range("--steps", args.steps, 2, MAX_OUTPUTS)
    _check_common(args)
    first, last = _preflight(args.input, args), _preflight(args.target, args)
    if first.meta.is_drum != last.meta.is_drum:
        raise CommandError("cannot interpolate between a drum track and a pitched track")
    pipe = _variation_pipeline(args)
    seed = pick_seed(args.seed)
    results = _run_pipeline(
        pipe,
        args.input,
        interpolate_to=args.target,
        steps=args.steps,
        track=parse_track(args.track),
        start_bar=args.start_bar,
        meter=parse_meter(args.meter),
        bars=args.bars,
        temperature=args.temperature,
        seed=seed,
        progress_bar=True,
    )
    stem = f"{Path(args.input).stem}_to_{Path(args.target).stem}"
    files = {f"{stem}_{i}.mid": r["midi"] for i, r in enumerate(results, 1)}
    rolls = [("A", first.score)] + [(f"step {i}", r["score"]) for i, r in enumerate(results, 1)] + [("B", last.score)]
    _plot(files, f"{stem}.png", rolls, f"{stem}, seed {seed}", args.plot)
    written = _write(folder, files)
    _report(f"{args.input} -> {args.target}: {len(results)} steps, seed {seed}", written)
    return 0


def _performance_pipeline(args):
    spec = performer_spec(args.performer)
    if spec is None:
        from ..hub import defaults

        main = (
            defaults.PERFORMER_PITCHED
            if defaults.has_checkpoint(defaults.PERFORMER_PITCHED)
            else defaults.PERFORMER_DRUMS
        )
        return load_pipeline("midi-performance", "performer", model=default_checkpoint(main))
    if isinstance(spec, list):
        return load_pipeline("midi-performance", "performer", model=spec[0], performer=spec[1:] or None)
    (main_kind, main_path), *rest = spec.items()
    from ..pipelines.performers import load_performer

    try:
        main = load_performer(main_path)
    except (OSError, ValueError) as err:
        raise CommandError(f"cannot load the performer {main_path}: {str(err).splitlines()[0]}") from None
    main.config.performer_kind = main_kind
    return load_pipeline("midi-performance", "performer", model=main, performer=dict(rest) or None)


def cmd_perform(args) -> int:
    from ..utils.files import atomic_write_bytes

    out = output_file(args.output)
    check_range("--temperature", args.temperature, 0)
    if args.humanize is not None and not 0 <= args.humanize <= 1:  # NaN too
        raise CommandError(f"--humanize must be in [0, 1], got {args.humanize}")
    if args.steps is not None and args.steps < 1:
        raise CommandError(f"--steps must be >= 1, got {args.steps}")
    if args.bars < 1:
        raise CommandError(f"--bars must be >= 1, got {args.bars}")
    excerpt = _preflight(args.input, args)
    pipe = _performance_pipeline(args)
    seed = pick_seed(args.seed)
    result = pipe(
        args.input,
        track=parse_track(args.track),
        start_bar=args.start_bar,
        meter=parse_meter(args.meter),
        bars=args.bars,
        temperature=args.temperature,
        point_estimate=args.point_estimate,
        seed=seed,
        style=args.style,
        steps=args.steps,
        keep_performance=args.keep_performance or None,
        humanize=args.humanize,
    )
    try:
        atomic_write_bytes(out, result["midi"])
    except OSError as err:
        raise CommandError(f"{out}: cannot write ({err.strerror or err})") from None
    print(f"{args.input}: {_describe(excerpt, args)}, {excerpt.score.note_num()} notes performed, seed {seed} -> {out}")
    return 0


COMMANDS = {"vary": cmd_vary, "generate": cmd_generate, "interpolate": cmd_interpolate, "perform": cmd_perform}

__all__ = ["COMMANDS", "cmd_generate", "cmd_interpolate", "cmd_perform", "cmd_vary"]
