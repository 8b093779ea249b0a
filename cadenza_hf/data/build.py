"""MIDI collections to Hugging Face Datasets of bar-aligned single-track excerpts.

One row per track per window of ``bars`` bars (every ``hop_bars`` bars). Files are read
through the guarded reader in a ``datasets`` generator, so building runs in ``num_proc``
processes and is cached by ``datasets`` (the fingerprint covers the options and every
file's size and modification time). A corrupt or hostile file becomes one ``rejected``
row with its reason instead of aborting the build; the summary counts them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

from ..tokenization.excerpt import count_bars
from ..tokenization.kinds import PART_KINDS, part_kind
from ..tokenization.midi_io import MidiInputError
from .sources import SPLITS, SourceFile, discover, load_source, split_of

logger = logging.getLogger(__name__)

KINDS = PART_KINDS  # the kind column (datasets built before 0.2 say "monophonic" for melody)
DUPLICATE_PRIORITY = ("test", "validation", "train")  # an excerpt seen in test is dropped from train


@dataclass
class BuildOptions:
    """What goes into each excerpt; all of it is part of the dataset fingerprint."""

    bars: int = 4
    hop_bars: int | None = None  # default: ``bars`` (windows side by side)
    min_notes: int = 4
    max_tokens: int = 2048
    transpose: tuple[int, ...] = ()  # semitone shifts added for pitched tracks in train
    align_onsets: bool = False  # estimate bars from onsets for plain MIDI files
    tokenizer: dict = field(default_factory=dict)  # PerTokTokenizer settings

    def __post_init__(self):
        if self.bars < 1:
            raise ValueError(f"bars must be >= 1, got {self.bars}")
        if self.hop_bars is None:
            self.hop_bars = self.bars
        if self.hop_bars < 1:
            raise ValueError(f"hop_bars must be >= 1, got {self.hop_bars}")
        self.transpose = tuple(int(t) for t in self.transpose if int(t) != 0)


def features():
    from datasets import Features, List, Value

    ids = List(Value("int32"))
    return Features(
        {
            "status": Value("string"),  # ok | rejected | file
            "reason": Value("string"),
            "source": Value("string"),
            "collection": Value("string"),
            "split": Value("string"),
            "track": Value("string"),
            "track_index": Value("int32"),
            "program": Value("int32"),
            "kind": Value("string"),
            "bar": Value("int32"),
            "time_signature": Value("string"),
            "tempo": Value("float32"),
            "note_count": Value("int32"),
            "transpose": Value("int32"),
            "hash": Value("string"),
            "input_ids": ids,
            "composition_ids": ids,
            "masked_ids": ids,
        }
    )


def _empty_row(source: SourceFile, status: str, reason: str) -> dict:
    return {
        "status": status,
        "reason": reason,
        "source": source.name,
        "collection": source.collection,
        "split": split_of(source),
        "track": "",
        "track_index": -1,
        "program": -1,
        "kind": "",
        "bar": -1,
        "time_signature": "",
        "tempo": 0.0,
        "note_count": 0,
        "transpose": 0,
        "hash": "",
        "input_ids": [],
        "composition_ids": [],
        "masked_ids": [],
    }


def _skip_reason(reason: str) -> str:
    for key, label in (
        ("no notes in bars", "empty window"),
        ("meter changes inside", "meter change inside window"),
        ("notes in the window, over", "too many notes in window"),
    ):
        if key in reason:
            return label
    return reason


def excerpt_kind(tokenizer, ids: list[int]) -> str:
    """The dataset's ``kind`` label: drums, melody, or polyphonic when more than 10% of notes share an onset."""
    return part_kind(tokenizer, ids, chord_share=0.1)


def _transposed(excerpt, semitones: int, tokenizer):
    lo, hi = tokenizer.settings["pitch_range"]
    pitches = excerpt.score.tracks[0].notes.numpy()["pitch"]
    if pitches.min() + semitones < lo or pitches.max() + semitones > hi:
        return None
    from ..tokenization.excerpt import Excerpt

    return Excerpt(excerpt.score.shift_pitch(semitones), excerpt.meta)


def file_rows(source: SourceFile, tokenizer, options: BuildOptions) -> tuple[list[dict], Counter]:
    """Every excerpt row of one file, and the windows skipped with their reasons."""
    rows, skipped = [], Counter()
    score = load_source(source, tokenizer.ticks_per_quarter, options.align_onsets, skipped)
    split = split_of(source)
    for index, track in enumerate(score.tracks):
        if len(track.notes) == 0:
            continue
        single = tokenizer.track_score(score, index)
        last = count_bars(single) - options.bars
        for bar in range(0, last + 1, options.hop_bars):
            try:
                # rows hold one meter per window (the time_signature column): windows across a change are skipped
                excerpt = tokenizer.cut_excerpt(single, bar, options.bars, source.name, meter_changes=False)
            except MidiInputError as err:
                skipped[_skip_reason(err.reason)] += 1
                continue
            if excerpt.score.note_num() < options.min_notes:
                skipped[f"fewer than {options.min_notes} notes"] += 1
                continue
            shifts = (0,) + (options.transpose if split == "train" and not track.is_drum else ())
            for shift in shifts:
                variant = excerpt if shift == 0 else _transposed(excerpt, shift, tokenizer)
                if variant is None:
                    skipped["transposition out of pitch range"] += 1
                    continue
                row = _excerpt_row(source, split, index, bar, shift, variant, tokenizer, options, skipped)
                if row is not None:
                    rows.append(row)
    return rows, skipped


def _excerpt_row(source, split, index, bar, shift, excerpt, tokenizer, options, skipped) -> dict | None:
    ids = tokenizer.encode_excerpt(excerpt)
    if excerpt.meta.dropped_notes:
        skipped["notes outside the pitch range (dropped)"] += excerpt.meta.dropped_notes
    if len(ids) > options.max_tokens:
        skipped[f"longer than {options.max_tokens} tokens"] += 1
        return None
    meta = excerpt.meta
    row = _empty_row(source, "ok", "")
    row.update(
        split=split,
        track=meta.track_name,
        track_index=index,
        program=meta.program,
        kind=excerpt_kind(tokenizer, ids),
        bar=bar,
        time_signature="{}/{}".format(*meta.time_signature),
        tempo=float(meta.tempos[0][1]),
        note_count=excerpt.score.note_num() - meta.dropped_notes,
        transpose=shift,
        hash=hashlib.sha1(np.asarray(ids, dtype=np.int32).tobytes()).hexdigest()[:20],
        input_ids=ids,
        composition_ids=tokenizer.composition_ids(ids),
        masked_ids=tokenizer.mask_performance(ids),
    )
    return row


def generate_rows(sources: list[dict], options_json: str):
    """``datasets`` generator: rows of every excerpt, one row per rejected file, and one
    ``file`` row per read file whose ``reason`` holds the skipped-window counts (JSON)."""
    from ..tokenization.tokenization_pertok import PerTokTokenizer

    options = BuildOptions(**json.loads(options_json))
    tokenizer = PerTokTokenizer(**options.tokenizer)
    for item in sources:
        source = SourceFile.from_dict({k: v for k, v in item.items() if k != "stamp"})
        try:
            rows, skipped = file_rows(source, tokenizer, options)
        except MidiInputError as err:
            logger.warning("skipping %s", err)
            yield _empty_row(source, "rejected", err.reason)
            continue
        except Exception as err:  # a file must never abort the build; report it instead
            logger.warning("skipping %s: unexpected %s: %s", source.name, type(err).__name__, err)
            yield _empty_row(source, "rejected", f"unexpected {type(err).__name__}: {err}")
            continue
        yield from rows
        yield _empty_row(source, "file", json.dumps(dict(skipped), sort_keys=True))


def _source_dicts(sources: list[SourceFile]) -> list[dict]:
    """Generator inputs, in an order that balances ``num_proc`` shards.

    ``datasets`` cuts the list into contiguous shards; sorted names put whole
    collections (a few big POP909 songs, many short Groove files) in one shard, so the
    list is ordered by a hash of each name instead: deterministic, and mixed.
    """
    out = []
    for s in sorted(sources, key=lambda src: hashlib.sha1(src.name.encode()).hexdigest()):
        d = s.to_dict()
        try:
            st = os.stat(s.path)
            d["stamp"] = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            d["stamp"] = "missing"
        out.append(d)
    return out


@dataclass
class BuildSummary:
    """What a build read, rejected, skipped and produced."""

    files_read: int = 0
    files_rejected: dict = field(default_factory=dict)  # reason -> count
    rejected_files: list = field(default_factory=list)  # (source, reason)
    windows_skipped: dict = field(default_factory=dict)
    duplicates_removed: int = 0
    excerpts: dict = field(default_factory=dict)  # split -> kind -> count

    def to_dict(self) -> dict:
        return asdict(self)

    def format(self) -> str:
        lines = [f"files read: {self.files_read}, rejected: {sum(self.files_rejected.values())}"]
        lines += [f"  rejected ({n}): {reason}" for reason, n in sorted(self.files_rejected.items())]
        lines += [f"windows skipped ({n}): {reason}" for reason, n in sorted(self.windows_skipped.items())]
        lines.append(f"duplicate excerpts removed: {self.duplicates_removed}")
        header = "split".ljust(12) + "".join(k.rjust(12) for k in KINDS) + "total".rjust(10)
        lines.append(header)
        for split in SPLITS:
            counts = self.excerpts.get(split, {})
            lines.append(
                split.ljust(12)
                + "".join(str(counts.get(k, 0)).rjust(12) for k in KINDS)
                + str(sum(counts.values())).rjust(10)
            )
        return "\n".join(lines)


def _summarize(raw) -> BuildSummary:
    summary = BuildSummary()
    status, reason, source = raw["status"], raw["reason"], raw["source"]
    skipped = Counter()
    rejected = Counter()
    for st, why, src in zip(status, reason, source):
        if st == "file":
            summary.files_read += 1
            skipped.update(json.loads(why))
        elif st == "rejected":
            summary.files_read += 1
            rejected[why] += 1
            summary.rejected_files.append((src, why))
    summary.files_rejected, summary.windows_skipped = dict(rejected), dict(skipped)
    return summary


def _dedupe_indices(hashes: list[str], splits: list[str]) -> list[int]:
    """Indices to keep: the first copy of each excerpt, test before validation before train."""
    rank = {s: i for i, s in enumerate(DUPLICATE_PRIORITY)}
    order = sorted(range(len(hashes)), key=lambda i: (rank.get(splits[i], 3), i))
    seen, keep = set(), []
    for i in order:
        if hashes[i] not in seen:
            seen.add(hashes[i])
            keep.append(i)
    return sorted(keep)


def build_dataset(
    inputs: list[str],
    options: BuildOptions | None = None,
    num_proc: int | None = None,
    cache_dir: str | None = None,
    dedupe: bool = True,
):
    """Build a ``DatasetDict`` (train/validation/test) of excerpts from MIDI collections.

    Returns ``(dataset_dict, summary)``. Columns: source, collection, split, track,
    track_index, program, kind, bar, time_signature, tempo, note_count, transpose, hash,
    input_ids (full PerTok ids), composition_ids, masked_ids.
    """
    from datasets import Dataset, DatasetDict

    options = options or BuildOptions()
    sources = discover(inputs)
    if not sources:
        raise ValueError(f"no MIDI files found in {inputs}")
    gen_kwargs = {"sources": _source_dicts(sources), "options_json": json.dumps(asdict(options), sort_keys=True)}
    num_proc = num_proc if num_proc and num_proc > 1 and len(sources) > 1 else None
    raw = Dataset.from_generator(
        generate_rows, gen_kwargs=gen_kwargs, features=features(), num_proc=num_proc, cache_dir=cache_dir
    )
    summary = _summarize(raw.select_columns(["status", "reason", "source"]).to_dict())
    ok = raw.filter(lambda s: s == "ok", input_columns="status", num_proc=num_proc)
    if dedupe and len(ok):
        cols = ok.select_columns(["hash", "split"]).to_dict()
        keep = _dedupe_indices(cols["hash"], cols["split"])
        summary.duplicates_removed = len(ok) - len(keep)
        ok = ok.select(keep)
    ok = ok.remove_columns(["status", "reason"])
    result = DatasetDict()
    for split in SPLITS:
        # filter(), not select(): datasets 5.2 saves an empty select()ed split in a form
        # that load_from_disk cannot read back (IndexError in concat_tables)
        result[split] = ok.filter(lambda s, want=split: s == want, input_columns="split")
        summary.excerpts[split] = dict(Counter(result[split]["kind"]))
    return result, summary


def build_streaming(inputs: list[str], options: BuildOptions | None = None):
    """The same excerpts as an ``IterableDatasetDict``, for collections too big to store.

    Nothing is written to disk; files are read as the data is iterated, one shard per
    file (so DataLoader workers split the files). Rejected files and skipped windows are
    logged, and excerpts are not deduplicated (that needs a pass over everything).
    Each split iterates over every file and keeps its own rows.
    """
    from datasets import IterableDataset, IterableDatasetDict

    options = options or BuildOptions()
    sources = discover(inputs)
    gen_kwargs = {"sources": _source_dicts(sources), "options_json": json.dumps(asdict(options), sort_keys=True)}
    stream = IterableDataset.from_generator(generate_rows, gen_kwargs=gen_kwargs, features=features())
    result = IterableDatasetDict()
    for split in SPLITS:
        result[split] = stream.filter(
            lambda st, sp, want=split: st == "ok" and sp == want, input_columns=["status", "split"]
        ).remove_columns(["status", "reason"])
    return result


__all__ = [
    "KINDS",
    "BuildOptions",
    "BuildSummary",
    "build_dataset",
    "build_streaming",
    "excerpt_kind",
    "file_rows",
    "generate_rows",
]
