"""Finding MIDI files, knowing which collection each belongs to, and reading it on a bar grid.

Three kinds of collection get special handling; everything else is plain MIDI whose bars
are taken from its own time signatures, anchored at tick 0:

- **POP909** (a song folder ``NNN/`` holding ``NNN.mid`` and ``beat_midi.txt``; the
  collection's ``index.csv`` gives the meter): aligned to its beat annotations
  (:mod:`cadenza_hf.alignment`), without which bars mean nothing.
- **Groove MIDI Dataset** (an ``info.csv`` with ``midi_filename`` and ``split`` columns
  at the collection root): aligned at tick 0 with a time signature; its published split
  is kept.
- **music21 corpus** (``music21:<composer or path>``, e.g. ``music21:bach``): quantized
  scores that any machine can install, converted to MIDI through music21.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import symusic

from ..tokenization.alignment import align_by_onsets, load_pop909_song
from ..tokenization.midi_io import MidiInputError, read_midi

MIDI_SUFFIXES = (".mid", ".midi")
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class SourceFile:
    """One input file: where it is, its stable name, its collection and any published split."""

    path: str
    name: str
    collection: str = "midi"
    split: str | None = None
    extra: str = "{}"  # JSON: per-collection metadata (e.g. POP909 meter)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "name": self.name,
            "collection": self.collection,
            "split": self.split or "",
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SourceFile:
        return cls(d["path"], d["name"], d["collection"], d["split"] or None, d["extra"])


def split_of(source: SourceFile, fractions=(0.8, 0.1)) -> str:
    """Deterministic split by source name (published split first): train/validation/test."""
    if source.split:
        return source.split
    u = int.from_bytes(hashlib.sha1(source.name.encode()).digest()[:8], "big") / 2**64
    if u < fractions[0]:
        return "train"
    return "validation" if u < fractions[0] + fractions[1] else "test"


def _read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _collection_tables(root: Path) -> tuple[dict, dict]:
    """POP909 ``index.csv`` rows by song id and Groove ``info.csv`` rows by file, if present."""
    pop, groove = {}, {}
    index = root / "index.csv"
    if index.is_file():
        rows = _read_csv(index)
        if rows and "song_id" in rows[0] and "num_beats_per_measure" in rows[0]:
            pop = {r["song_id"]: r for r in rows}
    info = root / "info.csv"
    if info.is_file():
        rows = _read_csv(info)
        if rows and "midi_filename" in rows[0] and "split" in rows[0]:
            groove = {r["midi_filename"]: r for r in rows}
    return pop, groove


def _classify(path: Path, root: Path, tables) -> SourceFile:
    """Name and collection of one file; the nearest ``index.csv``/``info.csv`` above it
    (up to ``root``) tells which collection it belongs to."""
    rel = path.relative_to(root).as_posix() if root in path.parents else path.name
    name = f"{root.name}/{rel}"
    for folder in [p for p in path.parents if p == root or root in p.parents]:
        pop, groove = tables(folder)
        beat_file = path.parent / "beat_midi.txt"
        if pop and beat_file.is_file() and path.stem == path.parent.name:
            row = pop.get(path.stem, {})
            extra = {k: row[k] for k in ("num_beats_per_measure", "num_quavers_per_beat") if k in row}
            return SourceFile(str(path), f"{folder.name}/{path.parent.name}", "pop909", None, json.dumps(extra))
        key = path.relative_to(folder).as_posix()
        if key in groove:
            row = groove[key]
            split = row["split"] if row["split"] in SPLITS else None
            extra = {"time_signature": row.get("time_signature", ""), "style": row.get("style", "")}
            return SourceFile(str(path), f"{folder.name}/{key}", "groove", split, json.dumps(extra))
    if (path.parent / "beat_midi.txt").is_file() and path.stem == path.parent.name:  # a lone POP909 song
        return SourceFile(str(path), f"{path.parent.parent.name}/{path.parent.name}", "pop909")
    return SourceFile(str(path), name, "midi")


def discover(inputs: list[str]) -> list[SourceFile]:
    """All MIDI sources under ``inputs`` (folders, searched recursively; files; or
    ``music21:<name>``), sorted by name so every build sees the same order."""
    found: dict[str, SourceFile] = {}
    cache: dict[Path, tuple[dict, dict]] = {}

    def tables(folder: Path):
        if folder not in cache:
            cache[folder] = _collection_tables(folder)
        return cache[folder]

    for item in inputs:
        if item.startswith("music21:"):
            for src in _music21_sources(item.split(":", 1)[1]):
                found[src.name] = src
            continue
        path = Path(item).resolve()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())
            for f in files:
                src = _classify(f, path, tables)
                found[src.name] = src
        elif path.is_file():
            src = _classify(path, path.parent, tables)
            found[src.name] = src
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    return sorted(found.values(), key=lambda s: s.name)


def _music21_sources(query: str) -> list[SourceFile]:
    from music21 import corpus

    paths = corpus.getComposer(query) or corpus.search(query, "composer").getPaths()
    root = Path(corpus.getComposer("bach")[0]).parents[1] if corpus.getComposer("bach") else None
    out = []
    for p in sorted(Path(str(x)) for x in paths):
        rel = p.relative_to(root).as_posix() if root and root in p.parents else p.name
        out.append(SourceFile(f"music21:{p}", f"music21/{rel}", "music21"))
    return out


def load_source(source: SourceFile, tpq: int = 480, align_onsets: bool = False) -> symusic.Score:
    """Read a source as a validated Score whose bars are right (aligned where needed).

    ``align_onsets``: for plain MIDI (no beat file, no published grid), estimate the bar
    grid from the onsets (:func:`~cadenza_hf.alignment.align_by_onsets`) instead of
    trusting tick 0. Measured on 40 POP909 songs in 4/4 with their beat files hidden:
    91.6% of PIANO onsets within 1% of a 16th (beat-file alignment: 91.5%), and the
    estimated downbeat matched the annotated one in 24 of 40 songs.
    """
    if source.collection == "midi" and align_onsets:
        return align_by_onsets(read_midi(source.path))
    if source.collection == "pop909":
        extra = json.loads(source.extra)
        return load_pop909_song(Path(source.path).parent, extra or None, tpq)
    if source.collection == "music21":
        return read_midi(_music21_midi(source.path.split(":", 1)[1]), source.name)
    return read_midi(source.path)


def _music21_midi(path: str) -> bytes:
    from music21 import converter, midi

    try:
        stream = converter.parse(path)
        mf = midi.translate.streamToMidiFile(stream)
        return mf.writestr()
    except Exception as err:  # music21 raises many types on odd scores
        raise MidiInputError(path, f"music21 could not convert the score ({type(err).__name__}: {err})") from None


__all__ = ["SPLITS", "SourceFile", "discover", "load_source", "split_of"]
