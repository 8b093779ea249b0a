"""Benchmark PerTok against miditok's tokenizers: the paper's Table 1, plus encode speed.

Reproduces Table 1 of the paper (vocabulary size and mean sequence length) on 4- and
8-bar excerpts of three kinds of real MIDI:

- ``polyphonic``: the PIANO track of POP909 songs (aligned to their annotated beats),
- ``monophonic``: the MELODY track of the same songs,
- ``drums``: Groove MIDI Dataset performances.

Rows: miditok's REMI, TSD and Structured at a 16th grid and at 440 positions per
quarter (the "-p" rows), the project's ``PerTokTokenizer`` (PerTok, PerTok-p, PerTok
no-duration), and bare miditok ``PerTok`` with the configuration its docstring intends.
Then the wrapper's ``encode_excerpt`` is timed against bare miditok ``PerTok.encode``
on the same excerpts (notes per second, interleaved rounds).

This is a benchmark, not a test: it reads ``../shared/data`` (or ``--data``) and prints
markdown; ``--output docs/benchmarks.md`` refreshes the "Tokenizers" section of that
file (between ``<!-- tokenizers:start -->`` and ``<!-- tokenizers:end -->``).

    OMP_NUM_THREADS=1 python scripts/benchmark_tokenizers.py --output docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cadenza_hf.evaluation import reporting

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("CADENZA_DATA", REPO.parent / "shared" / "data"))
SCRIPT = "scripts/benchmark_tokenizers.py"
START_MARK = "<!-- tokenizers:start -->"
END_MARK = "<!-- tokenizers:end -->"
FILE_INTRO = (
    "# Benchmarks\n\n"
    "Measured numbers for cadenza_hf, each section written by the script named in it\n"
    "(re-run the script with `--output docs/benchmarks.md` to refresh its section; the\n"
    "other sections are left alone). Data: a local copy of POP909 and the Groove MIDI\n"
    "Dataset (see `../shared/data`), which the project does not ship.\n"
)

# (kind, dataset, track): track is a name for POP909, the (only) track index for Groove.
KINDS = (("polyphonic", "pop909", "PIANO"), ("monophonic", "pop909", "MELODY"), ("drums", "groove", 0))
TRIES_PER_SOURCE = 4  # random start bars tried per (source, kind, length) before moving on

# miditok settings shared by every baseline tokenizer. Pitch ranges are the wrapper's
# (miditok ranges are inclusive here too), so every row drops the same notes.
PITCH_RANGE = (21, 108)
DRUM_PITCH_RANGE = (22, 81)
NUM_VELOCITIES = 32
SPECIAL_TOKENS = ["PAD", "BOS", "EOS", "MASK"]
# The paper's REMI-p minus REMI vocabulary (5505 - 273 = 5232) and TSD-p minus TSD
# (7264 - 288 = 6976) are matched exactly by 4 vs 440 positions per quarter over
# beats 0-8; miditok builds that grid in milliseconds.
BEAT_RES_16TH = {(0, 8): 4}
BEAT_RES_P = {(0, 8): 440}
# The docstring of miditok's PerTok writes {(0, 4): 4, (0, 4): 3}, a dict literal whose
# repeated key silently keeps only the triplet grid; this is what it means.
BARE_PERTOK_BEAT_RES = {(0, 4): 4, (0, 3): 3}

# Table 1 of the paper (2,000 polyphonic 4- and 8-bar files, lengths mixed).
PAPER_TABLE1 = {
    "REMI": (273, 195),
    "REMI-p": (5505, 199),
    "Structured": (289, 216),
    "Structured-p": (7265, 216),
    "TSD": (288, 188),
    "TSD-p": (7264, 192),
    "PerTok": (196, 134),
    "PerTok-p": (259, 243),
    "PerTok no-duration": (164, 80),
}
ROW_ORDER = (
    "REMI",
    "REMI-p",
    "TSD",
    "TSD-p",
    "Structured",
    "Structured-p",
    "PerTok",
    "PerTok-p",
    "PerTok no-duration",
    "PerTok composition",
    "PerTok no-duration composition",
    "miditok PerTok (bare)",
)
PERFORMANCE_PREFIXES = ("Velocity_", "MicroTiming_")


@dataclass
class Sample:
    """One excerpt window: where it came from and the cut ``Excerpt``."""

    kind: str
    bars: int
    source: str
    start_bar: int
    excerpt: object  # cadenza_hf.Excerpt

    @property
    def num_notes(self) -> int:
        return len(self.excerpt.score.tracks[0].notes)


@dataclass
class Row:
    """A tokenizer under test: its name, vocabulary and a function giving a length."""

    name: str
    vocab_size: int
    pitched_vocab_size: int
    length: object  # Callable[[Sample], int]
    lengths: dict = field(default_factory=dict)  # (kind, bars) -> list[int]


# ---- data ---------------------------------------------------------------------------
def pop909_sources(data_dir: Path) -> list[tuple[str, dict]]:
    """``(song folder, index row)`` of every POP909 song present, sorted by id."""
    root = data_dir / "pop909"
    with open(root / "index.csv", encoding="utf-8") as f:
        rows = {row["song_id"]: row for row in csv.DictReader(f)}
    return [(str(root / sid), rows[sid]) for sid in sorted(rows) if (root / sid / f"{sid}.mid").is_file()]


def groove_sources(data_dir: Path) -> list[tuple[str, dict]]:
    """``(midi path, info row)`` of every Groove file present, sorted by file name."""
    root = data_dir / "groove"
    with open(root / "info.csv", encoding="utf-8") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["midi_filename"])
    return [(str(root / r["midi_filename"]), r) for r in rows if (root / r["midi_filename"]).is_file()]


def load_source(dataset: str, path: str, row: dict):
    """The score of one source: POP909 aligned to its beats, Groove as read."""
    from cadenza_hf import read_midi
    from cadenza_hf.tokenization.alignment import load_pop909_song

    if dataset == "pop909":
        return load_pop909_song(path, row)
    return read_midi(path)


def sample_excerpts(tok, data_dir: Path, num: int, bar_lengths: list[int], seed: int) -> tuple[list[Sample], dict]:
    """Up to ``num`` windows per (kind, length), at most one per source file.

    Sources are visited in a seeded random order; for each one and each (kind, length)
    still short of ``num``, up to ``TRIES_PER_SOURCE`` start bars are drawn from a
    generator seeded by (seed, source, kind, length), and the first window that cuts
    (no ``MidiInputError``: notes present, one meter) is kept. A source's draws do not
    depend on ``num``, so a smaller run samples a prefix of a larger one.

    Returns the samples and ``{(kind, bars): (refused windows, sources visited)}``.
    """
    from cadenza_hf import MidiInputError
    from cadenza_hf.tokenization.excerpt import count_bars

    samples: list[Sample] = []
    stats: dict = {}
    for d_index, (dataset, lister) in enumerate((("pop909", pop909_sources), ("groove", groove_sources))):
        sources = lister(data_dir)
        kinds = [(k, track) for k, d, track in KINDS if d == dataset]
        order = np.random.default_rng([seed, d_index]).permutation(len(sources))
        wanted = {(k, b): num for k, _ in kinds for b in bar_lengths}
        for key in wanted:
            stats[key] = [0, 0]
        for src in order.tolist():
            if not any(wanted.values()):
                break
            path, row = sources[src]
            try:
                score = load_source(dataset, path, row)
            except MidiInputError:  # a file the guarded reader refuses: not a window source
                continue
            total = count_bars(score)
            for k_index, (kind, track) in enumerate(kinds):
                for bars in bar_lengths:
                    if not wanted[kind, bars] or total < bars:
                        continue
                    stats[kind, bars][1] += 1
                    rng = np.random.default_rng([seed, d_index, src, k_index, bars])
                    for start in rng.integers(0, total - bars + 1, size=TRIES_PER_SOURCE).tolist():
                        try:
                            excerpt = tok.extract_excerpt(score, track=track, start_bar=start, bars=bars)
                            if (
                                excerpt.meta.bar_meters
                            ):  # the baselines read one meter: windows across a change stay out
                                raise MidiInputError(excerpt.meta.source, "the meter changes inside the window")
                        except MidiInputError:
                            stats[kind, bars][0] += 1
                            continue
                        rel = os.path.relpath(path, data_dir)
                        samples.append(Sample(kind, bars, rel, start, excerpt))
                        wanted[kind, bars] -= 1
                        break
    return samples, {k: tuple(v) for k, v in stats.items()}


def as_midi_file(score):
    """A copy whose onsets before tick 0 (played ahead of bar 1) are moved to tick 0.

    A window keeps notes played just ahead of its first bar line at negative ticks
    (they belong to bar 1; the wrapper writes them as negative MicroTiming). A MIDI
    file cannot hold them and miditok's REMI/TSD/Structured at 440 positions per
    quarter turn them into tokens outside the vocabulary (``Position_-53``), so the
    baselines get the window as a MIDI file would store it.
    """
    import symusic

    score = score.copy()
    for track in score.tracks:
        notes = track.notes.numpy()
        early = notes["time"] < 0
        if early.any():
            notes["duration"][early] = np.maximum(notes["duration"][early] + notes["time"][early], 1)
            notes["time"][early] = 0
            track.notes = symusic.Note.from_numpy(**notes)
    return score


# ---- tokenizers ---------------------------------------------------------------------
def miditok_common() -> dict:
    """TokenizerConfig arguments shared by every miditok baseline."""
    return dict(
        pitch_range=PITCH_RANGE,
        drums_pitch_range=DRUM_PITCH_RANGE,
        num_velocities=NUM_VELOCITIES,
        special_tokens=list(SPECIAL_TOKENS),
        use_velocities=True,
        use_chords=False,
        use_rests=False,
        use_tempos=False,
        use_time_signatures=False,
        use_programs=False,
        use_sustain_pedals=False,
        use_pitch_bends=False,
        use_pitchdrum_tokens=True,
    )


def bare_pertok():
    """miditok's own ``PerTok`` as its docstring intends (16ths + 8th-triplets)."""
    from miditok import PerTok, TokenizerConfig

    config = TokenizerConfig(
        beat_res=dict(BARE_PERTOK_BEAT_RES),
        ticks_per_quarter=480,
        use_microtiming=True,
        max_microtiming_shift=0.125,
        num_microtiming_bins=30,
        **miditok_common(),
    )
    return PerTok(config)


def miditok_length(tokenizer, clamp: bool = True):
    """Length function: tokens of the single track's TokSequence (no BOS/EOS)."""

    def length(sample: Sample) -> int:
        score = as_midi_file(sample.excerpt.score) if clamp else sample.excerpt.score.copy()
        seqs = tokenizer.encode(score)  # always a copy: encode() bins velocities in place
        return len(seqs[0]) if seqs else 0

    return length


def wrapper_length(tok, composition: bool = False):
    """Length function of a ``PerTokTokenizer``: ids without BOS/EOS.

    With ``composition``, only the composition tokens (Bar/TimeShift/Pitch/Duration,
    ``tok.composition_ids``): what the composer models, and what the paper's
    PerTok and PerTok no-duration rows count (see ``render``).
    """
    if composition:
        return lambda sample: len(tok.composition_ids(tok.encode_excerpt(sample.excerpt, add_special_tokens=False)))
    return lambda sample: len(tok.encode_excerpt(sample.excerpt, add_special_tokens=False))


def pitched_vocab(vocab) -> int:
    """Vocabulary size without PitchDrum tokens (what a pitched-only corpus needs)."""
    return sum(1 for token in vocab if not token.startswith("PitchDrum_"))


def composition_vocab(vocab) -> list[str]:
    """The tokens of a vocabulary that are not Velocity or MicroTiming."""
    return [token for token in vocab if not token.startswith(PERFORMANCE_PREFIXES)]


def build_rows() -> tuple[list[Row], dict]:
    """Every tokenizer of the table, and the time each took to build."""
    from miditok import REMI, TSD, Structured, TokenizerConfig

    from cadenza_hf import PerTokTokenizer

    rows, build_s = [], {}
    specs = [
        ("REMI", REMI, BEAT_RES_16TH),
        ("REMI-p", REMI, BEAT_RES_P),
        ("TSD", TSD, BEAT_RES_16TH),
        ("TSD-p", TSD, BEAT_RES_P),
        ("Structured", Structured, BEAT_RES_16TH),
        ("Structured-p", Structured, BEAT_RES_P),
    ]
    for name, cls, beat_res in specs:
        start = time.perf_counter()
        tokenizer = cls(TokenizerConfig(beat_res=dict(beat_res), **miditok_common()))
        build_s[name] = time.perf_counter() - start
        rows.append(Row(name, len(tokenizer), pitched_vocab(tokenizer.vocab), miditok_length(tokenizer)))
    for name, kwargs in (
        ("PerTok", {"use_microtiming": False}),
        ("PerTok-p", {}),
        ("PerTok no-duration", {"use_microtiming": False, "use_durations": False}),
    ):
        start = time.perf_counter()
        tok = PerTokTokenizer(**kwargs)
        build_s[name] = time.perf_counter() - start
        rows.append(Row(name, tok.vocab_size, pitched_vocab(tok.vocab), wrapper_length(tok)))
        if name != "PerTok-p":
            comp = composition_vocab(tok.vocab)
            rows.append(
                Row(f"{name} composition", len(comp), pitched_vocab(comp), wrapper_length(tok, composition=True))
            )
    start = time.perf_counter()
    bare = bare_pertok()
    build_s["miditok PerTok (bare)"] = time.perf_counter() - start
    rows.append(Row("miditok PerTok (bare)", len(bare), pitched_vocab(bare.vocab), miditok_length(bare)))
    return rows, build_s


def measure_lengths(rows: list[Row], samples: list[Sample]) -> None:
    """Fill ``row.lengths[(kind, bars)]`` with the token count of every sample."""
    for row in rows:
        for sample in samples:
            row.lengths.setdefault((sample.kind, sample.bars), []).append(row.length(sample))


# ---- throughput ---------------------------------------------------------------------
def _timed_pass(fn, items) -> float:
    """Seconds for ``fn`` over every item, garbage collection paused (as timeit does)."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for item in items:
            fn(item)
        return time.perf_counter() - start
    finally:
        gc.enable()


def measure_throughput(samples: list[Sample], repeats: int) -> dict:
    """Notes/s of the wrapper, its engine alone and bare miditok PerTok, interleaved.

    Each round times the three encoders once over all samples; odd rounds run them in
    reverse order so that drift (cache, frequency, a neighbour's load) hits all alike.
    Every call encodes a copy of the same ``Excerpt.score``.
    """
    from cadenza_hf import PerTokTokenizer

    tok = PerTokTokenizer()
    bare = bare_pertok()
    excerpts = [s.excerpt for s in samples]
    scores = [e.score for e in excerpts]
    notes = sum(s.num_notes for s in samples)
    encoders = {
        "wrapper: PerTokTokenizer().encode_excerpt": (tok.encode_excerpt, excerpts),
        "wrapper's engine alone: tok.engine.encode(score.copy())": (lambda s: tok.engine.encode(s.copy()), scores),
        "bare miditok PerTok: encode(score.copy())": (lambda s: bare.encode(s.copy()), scores),
    }
    for fn, items in encoders.values():  # warm-up (imports, caches), not timed
        for item in items[:20]:
            fn(item)
    seconds = {name: [] for name in encoders}
    names = list(encoders)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            fn, items = encoders[name]
            seconds[name].append(_timed_pass(fn, items))
    return {"notes": notes, "excerpts": len(samples), "repeats": repeats, "seconds": seconds}


def profile_wrapper(samples: list[Sample], top: int = 25) -> str:
    """cProfile of one wrapper pass over the samples, sorted by total time."""
    import cProfile
    import io
    import pstats

    from cadenza_hf import PerTokTokenizer

    tok = PerTokTokenizer()
    profiler = cProfile.Profile()
    profiler.enable()
    for sample in samples:
        tok.encode_excerpt(sample.excerpt)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


# ---- report -------------------------------------------------------------------------
def machine_facts() -> list[str]:
    """Python, library versions, threads and CPUs of this run."""
    from importlib.metadata import version

    import torch

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"python {platform.python_version()} ({platform.machine()}, {platform.system()})",
        f"torch {torch.__version__}, torch threads {torch.get_num_threads()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}",
        f"CPUs: os.cpu_count() = {os.cpu_count()}, usable by this process = {affinity}",
        ", ".join(f"{name} {version(name)}" for name in ("miditok", "symusic", "transformers", "numpy")),
    ]


def md_table(header: list[str], rows: list[list]) -> str:
    """A GitHub markdown table."""
    align = "|".join("---" if i == 0 else "---:" for i in range(len(header)))  # numbers right-aligned
    lines = ["| " + " | ".join(header) + " |", "|" + align + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def excerpt_table(samples: list[Sample], stats: dict, bar_lengths: list[int]) -> str:
    """Windows per (kind, length): count, sources, refusals, notes, early onsets."""
    body = []
    for kind, dataset, track in KINDS:
        for bars in bar_lengths:
            group = [s for s in samples if s.kind == kind and s.bars == bars]
            refused, visited = stats.get((kind, bars), (0, 0))
            notes = [s.num_notes for s in group]
            early = sum(1 for s in group if s.num_notes and s.excerpt.score.tracks[0].notes.numpy()["time"].min() < 0)
            body.append(
                [
                    kind,
                    f"{dataset} {track if isinstance(track, str) else 'drum track'}",
                    bars,
                    len(group),
                    visited,
                    refused,
                    f"{statistics.fmean(notes):.1f}" if notes else "-",
                    early,
                ]
            )
    header = [
        "kind",
        "source",
        "bars",
        "windows",
        "files visited",
        "windows refused",
        "mean notes",
        "with notes ahead of bar 1",
    ]
    return md_table(header, body)


def length_table(rows: list[Row], bars: int) -> str:
    """Vocab size and mean length per kind for one window length."""
    body = []
    for row in sorted(rows, key=lambda r: ROW_ORDER.index(r.name)):
        means = []
        for kind, _, _ in KINDS:
            values = row.lengths.get((kind, bars), [])
            means.append(f"{statistics.fmean(values):.1f}" if values else "-")
        paper = PAPER_TABLE1.get(row.name, ("-", "-"))
        name = f"**{row.name}**" if row.name.startswith("PerTok") else row.name
        body.append([name, row.vocab_size, row.pitched_vocab_size, *means, *paper])
    header = [
        "tokenizer",
        "vocab",
        "vocab w/o PitchDrum",
        "len polyphonic",
        "len monophonic",
        "len drums",
        "paper vocab",
        "paper len",
    ]
    return md_table(header, body)


def throughput_table(result: dict) -> tuple[str, float]:
    """Best/median notes/s of each encoder and the wrapper/bare ratio (of the bests)."""
    notes, body = result["notes"], []
    best = {name: notes / min(s) for name, s in result["seconds"].items()}
    median = {name: notes / statistics.median(s) for name, s in result["seconds"].items()}
    wrapper, engine, bare = list(result["seconds"])
    for name in result["seconds"]:
        ms = 1000 * min(result["seconds"][name]) / result["excerpts"]
        body.append(
            [
                name,
                f"{best[name]:,.0f}",
                f"{median[name]:,.0f}",
                f"{ms:.3f}",
                f"{best[name] / best[bare]:.2f}",
                f"{median[name] / median[bare]:.2f}",
            ]
        )
    header = ["encoder", "best notes/s", "median notes/s", "best ms/excerpt", "best vs bare", "median vs bare"]
    return md_table(header, body), best[wrapper] / best[bare]


def config_notes() -> str:
    """Exactly what each row is."""
    return "\n".join(
        [
            "- All miditok rows: `TokenizerConfig(pitch_range=(21, 108), drums_pitch_range=(22, 81), "
            "num_velocities=32, special_tokens=['PAD', 'BOS', 'EOS', 'MASK'], use_velocities=True, "
            "use_chords=False, use_rests=False, use_tempos=False, use_time_signatures=False, use_programs=False, "
            "use_sustain_pedals=False, use_pitch_bends=False, use_pitchdrum_tokens=True)` (pitch ranges as the "
            "wrapper's, so every row drops the same notes); drum tracks keep miditok's default Duration tokens.",
            f"- REMI / TSD / Structured: `beat_res={BEAT_RES_16TH}` (16th grid, durations and shifts up to 8 beats); "
            f"the -p rows `beat_res={BEAT_RES_P}` (440 positions per quarter: miditok resamples the excerpt to 440 tpq). "
            "This grid reproduces the paper's vocabulary differences exactly (REMI-p - REMI = 5232, TSD-p - TSD = 6976, "
            "Structured-p - Structured = 6976); the absolute sizes differ by a constant that depends on the pitch "
            "ranges and PitchDrum tokens (the paper does not give them).",
            "- PerTok rows are `cadenza_hf.PerTokTokenizer`: **PerTok** = `PerTokTokenizer(use_microtiming=False)`, "
            "**PerTok-p** = `PerTokTokenizer()` (microtiming on: 31 MicroTiming tokens over +-0.125 beat), "
            "**PerTok no-duration** = `PerTokTokenizer(use_microtiming=False, use_durations=False)`; all use grids "
            "16ths + 8th-triplets + quarter-triplets at 480 tpq, 32 velocities, and drums never carry durations. "
            "Length = `len(tok.encode_excerpt(excerpt, add_special_tokens=False))` (every bar opens with `Bar`, "
            "empty trailing bars included).",
            "- PerTok composition rows: the same ids through `tok.composition_ids` (Bar/TimeShift/Pitch/Duration "
            "only: Velocity and MicroTiming dropped); vocab = the vocabulary without Velocity/MicroTiming tokens. "
            "The paper's PerTok and PerTok no-duration rows count these: its vocabularies give PerTok-p - PerTok "
            "= 259 - 196 = 63 = 32 Velocity + 31 MicroTiming tokens, and its lengths PerTok-p - PerTok = 109 = "
            "2 x (PerTok - PerTok no-duration = 54 notes), i.e. two performance tokens per note. Our PerTok row "
            "(`use_microtiming=False`) keeps Velocity, so it is one token per note longer than the paper's.",
            f"- miditok PerTok (bare): `miditok.PerTok` with `beat_res={BARE_PERTOK_BEAT_RES}` (the docstring's "
            "`{(0, 4): 4, (0, 4): 3}` repeats a key and keeps only the triplets), `ticks_per_quarter=480`, "
            "`use_microtiming=True`, `max_microtiming_shift=0.125`, `num_microtiming_bins=30`, plus the shared "
            "settings above.",
            "- Length of a miditok row = `len(tokenizer.encode(score)[0])`, the single track's TokSequence (no "
            "BOS/EOS), encoding a copy of the window in which onsets before tick 0 (played ahead of bar 1) are "
            "moved to tick 0, as a MIDI file stores them (the -p rows otherwise emit `Position_-53`, outside the "
            "vocabulary). miditok's `encode()` bins velocities in the Score it is given, so it always gets a copy.",
            "- Vocab w/o PitchDrum: the vocabulary minus PitchDrum tokens, closer to the paper's pitched-only "
            "corpus. Paper columns: Table 1 (2,000 polyphonic 4- and 8-bar files from audio production, "
            "lengths over both).",
        ]
    )


def render(args, argv, facts, samples, stats, rows, build_s, throughput, profile_text) -> tuple[str, float]:
    """The whole "Tokenizers" section as markdown, and the throughput ratio."""
    lines = [
        "## Tokenizers",
        "",
        "Paper Table 1 (vocabulary size, mean tokens per excerpt) on real 4- and 8-bar excerpts, and encode",
        "throughput of the wrapper against bare miditok. Produced by `scripts/benchmark_tokenizers.py`.",
        "",
        "Command: `" + reporting.command_line(argv, SCRIPT) + "`",
        "",
        *[f"- {fact}" for fact in facts],
        "",
        "### Excerpts",
        "",
        f"Seeded (`--seed {args.seed}`) sample of up to {args.num_excerpts} windows per kind and length, one "
        "window per file: files in a seeded random order, start bars drawn at random, windows refused by "
        "`extract_excerpt` (`MidiInputError`: no notes, or a meter change inside) skipped. POP909 songs are "
        "aligned to their annotated beats (`load_pop909_song`). Each excerpt is one track at 480 tpq from tick 0.",
        "",
        excerpt_table(samples, stats, args.bars),
        "",
    ]
    for bars in args.bars:
        lines += [f"### {bars}-bar excerpts", "", length_table(rows, bars), ""]
    lines += ["Configurations:", "", config_notes(), ""]
    table, ratio = throughput_table(throughput)
    lines += [
        "### Encode throughput",
        "",
        f"{throughput['excerpts']} excerpts ({throughput['notes']:,} notes, all kinds and lengths above), "
        f"{throughput['repeats']} interleaved rounds (odd rounds in reverse order), garbage collection paused "
        "while timing; every call encodes a copy of the same `Excerpt.score` with the PerTok-p settings "
        "(microtiming on) or bare miditok PerTok as configured above.",
        "",
        table,
        "",
        f"Wrapper / bare miditok PerTok (best notes/s): **{ratio:.2f}x** (target >= 0.90). The wrapper's own "
        "cost on top of its engine is the difference between its first two rows (pitch-range count, "
        "closing `Bar` padding, BOS/EOS). Bare miditok PerTok also writes a Duration token for every drum "
        "note (miditok's default), which the wrapper does not, so part of its gap on drums is extra work.",
        "",
        "Tokenizer build times: " + ", ".join(f"{n} {1000 * s:.0f} ms" for n, s in build_s.items()) + ".",
        "",
    ]
    if profile_text:
        lines += ["### Profile of the wrapper (cProfile, one pass)", "", "```", profile_text.strip(), "```", ""]
    return "\n".join(lines), ratio


def write_section(path: Path, section: str) -> None:
    """Replace the text between the tokenizer markers of ``path`` (create it if missing)."""
    reporting.write_section(path, section, START_MARK, END_MARK, FILE_INTRO)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding pop909/ and groove/")
    parser.add_argument("--num-excerpts", type=int, default=300, help="windows per kind and length (default 300)")
    parser.add_argument("--bars", type=int, nargs="+", default=[4, 8], help="window lengths in bars (default 4 8)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved throughput rounds (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--profile", action="store_true", help="add a cProfile of the wrapper's encode pass")
    parser.add_argument("--output", type=Path, help="markdown file whose Tokenizers section to write/refresh")
    return parser.parse_args(argv)


def main(argv=None) -> str:
    """Run the benchmark, print the markdown and return it."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    start = time.perf_counter()
    facts = machine_facts()
    print("# " + reporting.command_line(argv, SCRIPT), *facts, sep="\n# ", flush=True)
    from cadenza_hf import PerTokTokenizer

    samples, stats = sample_excerpts(PerTokTokenizer(), args.data, args.num_excerpts, args.bars, args.seed)
    print(f"# sampled {len(samples)} excerpts in {time.perf_counter() - start:.1f} s", flush=True)
    rows, build_s = build_rows()
    measure_lengths(rows, samples)
    print(f"# lengths done at {time.perf_counter() - start:.1f} s", flush=True)
    throughput = measure_throughput(samples, args.repeats)
    profile_text = profile_wrapper(samples) if args.profile else ""
    facts.append(f"total run time {time.perf_counter() - start:.0f} s")
    section, ratio = render(args, argv, facts, samples, stats, rows, build_s, throughput, profile_text)
    print(section)
    if args.output:
        write_section(args.output, section)
        print(f"# wrote the Tokenizers section of {args.output}")
    return section


if __name__ == "__main__":
    main()
