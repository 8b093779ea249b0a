"""Finding MIDI files, knowing which collection each belongs to, and reading it on a bar grid.

Three kinds of collection get special handling; everything else is plain MIDI whose bars
are taken from its own time signatures, anchored at tick 0:

- **POP909** (a song folder ``NNN/`` holding ``NNN.mid`` and ``beat_midi.txt``; the
  collection's ``index.csv`` gives the meter): aligned to its beat annotations
  (:mod:`cadenza_hf.alignment`), without which bars mean nothing.
- **Groove MIDI Dataset** (an ``info.csv`` with ``midi_filename`` and ``split`` columns
  at the collection root): aligned at tick 0 with a time signature; its published split
  is kept.
- **(n)ASAP** (a ``metadata.csv`` with ``midi_performance`` and ``performance_annotations``
  columns at the collection root; collection ``asap``): each listed performance re-timed on
  its annotated beats (:func:`~cadenza_hf.tokenization.alignment.load_asap_performance`),
  split by piece (the ``folder`` column) so that every performance of a piece lands in
  the same split. The collection's other MIDI files (``midi_score.mid``, performances
  without annotations) are not read.
- **music21 corpus** (``music21:<composer or path>``, e.g. ``music21:bach``): quantized
  scores that any machine can install, converted to MIDI through music21.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import symusic

from ..tokenization.alignment import align_by_onsets, load_asap_performance, load_pop909_song
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
    extra: str = "{}"  # JSON: per-collection metadata (POP909 meter; ASAP piece and annotations)

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
    """Deterministic split (published split first): train/validation/test, from a hash of the
    source's ``piece`` (ASAP: all performances of a piece together) or of its name."""
    if source.split:
        return source.split
    key = json.loads(source.extra or "{}").get("piece") or source.name
    u = int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big") / 2**64
    if u < fractions[0]:
        return "train"
    return "validation" if u < fractions[0] + fractions[1] else "test"


def _read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _collection_tables(root: Path) -> tuple[dict, dict, dict]:
    """POP909 ``index.csv`` rows by song id, Groove ``info.csv`` rows by file and ASAP
    ``metadata.csv`` rows by performance file, if present."""
    pop, groove, asap = {}, {}, {}
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
    meta = root / "metadata.csv"
    if meta.is_file():
        rows = _read_csv(meta)
        if rows and {"folder", "midi_performance", "performance_annotations"} <= rows[0].keys():
            asap = {Path(r["midi_performance"]).as_posix(): r for r in rows}
    return pop, groove, asap


def _asap_source(path: Path, name: str, piece: str, annotations: Path) -> SourceFile:
    extra = {"piece": f"asap/{piece}", "annotations": str(annotations)}
    return SourceFile(str(path), name, "asap", None, json.dumps(extra))


def _classify(path: Path, root: Path, tables) -> SourceFile | None:
    """Name and collection of one file (None: a file of a collection that is not read);
    the nearest ``index.csv``/``info.csv``/``metadata.csv`` above it (up to ``root``)
    tells which collection it belongs to."""
    rel = path.relative_to(root).as_posix() if root in path.parents else path.name
    name = f"{root.name}/{rel}"
    for folder in [p for p in path.parents if p == root or root in p.parents]:
        pop, groove, asap = tables(folder)
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
        if asap:
            if key not in asap:
                return None  # a score, or a performance without beat annotations
            row = asap[key]
            return _asap_source(path, f"asap/{key}", row["folder"], folder / row["performance_annotations"])
    if (path.parent / "beat_midi.txt").is_file() and path.stem == path.parent.name:  # a lone POP909 song
        return SourceFile(str(path), f"{path.parent.parent.name}/{path.parent.name}", "pop909")
    annotations = path.with_name(f"{path.stem}_annotations.txt")
    if annotations.is_file() and path.stem != "midi_score":  # an ASAP performance given alone
        for folder in path.parents:  # named and split as in its collection when one lists it
            asap = tables(folder)[2]
            key = path.relative_to(folder).as_posix()
            if key in asap:
                row = asap[key]
                return _asap_source(
                    path, f"{folder.name}/{key}", row["folder"], folder / row["performance_annotations"]
                )
        return _asap_source(path, f"asap/{path.parent.name}/{path.name}", path.parent.name, annotations)
    return SourceFile(str(path), name, "midi")


def discover(inputs: list[str]) -> list[SourceFile]:
    """All MIDI sources under ``inputs`` (folders, searched recursively; files; or
    ``music21:<name>``), sorted by name so every build sees the same order."""
    found: dict[str, SourceFile] = {}
    cache: dict[Path, tuple[dict, dict, dict]] = {}

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
                if src is not None:
                    found[src.name] = src
        elif path.is_file():
            src = _classify(path, path.parent, tables)
            if src is not None:
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


def load_source(
    source: SourceFile, tpq: int = 480, align_onsets: bool = False, counts: Counter | None = None
) -> symusic.Score:
    """Read a source as a validated Score whose bars are right (aligned where needed).

    ``counts`` (optional) gets the notes dropped on the way (ASAP notes far outside the
    annotated beats) under a reason.

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
    if source.collection == "asap":
        extra = json.loads(source.extra)
        annotations = extra.get("annotations") or str(
            Path(source.path).with_name(Path(source.path).stem + "_annotations.txt")
        )
        score, dropped = load_asap_performance(source.path, annotations, tpq)
        if dropped and counts is not None:
            counts["notes far outside the annotated beats (dropped)"] += dropped
        return score
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
