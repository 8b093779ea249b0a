"""(n)ASAP: performances re-timed on their annotated beats, meters from the annotations,
discovery of the collection and its split by piece, and the timing feel left on a real one."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import symusic

from cadenza_hf.data import BuildOptions, build_dataset
from cadenza_hf.data.sources import SourceFile, discover, load_source, split_of
from cadenza_hf.tokenization.alignment import load_asap_performance, read_asap_beats

from .conftest import DATA

TPQ = 480
SIXTEENTH = TPQ // 4


def write_performance(folder: Path, stem: str, notes, beats) -> tuple[Path, Path]:
    """``notes``: (onset s, duration s, pitch, velocity); ``beats``: (time s, label).
    Written at 120 qpm and 480 ticks per quarter, so one second is 960 ticks."""
    folder.mkdir(parents=True, exist_ok=True)
    score = symusic.Score(TPQ)
    score.tempos.append(symusic.Tempo(0, qpm=120.0))
    track = symusic.Track(name="Piano", program=0)
    for onset, dur, pitch, vel in notes:
        track.notes.append(symusic.Note(round(onset * 960), max(1, round(dur * 960)), pitch, vel))
    score.tracks.append(track)
    midi = folder / f"{stem}.mid"
    midi.write_bytes(score.dumps_midi())
    annotations = folder / f"{stem}_annotations.txt"
    annotations.write_text("".join(f"{t}\t{t}\t{label}\n" for t, label in beats))
    return midi, annotations


# Irregular beats: a pickup beat, two 3/4 bars, then 6/8 (two dotted-quarter beats a bar).
BEATS = [
    (0.50, "b,,0"),
    (1.10, "db,3/4,0"),
    (1.60, "b"),
    (2.40, "b"),
    (2.90, "db"),
    (3.50, "b"),
    (4.20, "b"),
    (4.60, "db,6/8"),
    (5.30, "b"),
    (6.10, "db"),
    (6.50, "b"),
]


def onsets(score: symusic.Score) -> np.ndarray:
    return np.sort(score.tracks[0].notes.numpy()["time"])


def test_annotated_beats_land_on_their_notated_positions(tmp_path):
    # a note on every beat, and one halfway between two beats of different length
    notes = [(t, 0.2, 60, 70) for t, _ in BEATS] + [(1.35, 0.1, 64, 50), (4.95, 0.1, 67, 90)]
    midi, ann = write_performance(tmp_path, "p", notes, BEATS)
    score, dropped = load_asap_performance(midi, ann, TPQ)
    assert dropped == 0
    # pickup quarter before a 3/4 bar: the pickup bar is an incomplete first bar
    quarters = [960, 1440, 1920, 2400, 2880, 3360, 3840]  # pickup, bar 1, bar 2
    dotted = [4320, 4320 + 720, 5760, 5760 + 720]  # 6/8 bars: beats of 720 ticks
    halfway = [1440 + 240, 4320 + 360]
    assert onsets(score).tolist() == sorted(quarters + dotted + halfway)
    meters = [(ts.time, ts.numerator, ts.denominator) for ts in score.time_signatures]
    assert meters == [(0, 3, 4), (4320, 6, 8)]
    # the tempo is a fixed median rate; velocities are the performance's own
    assert len(score.tempos) == 1
    assert sorted(score.tracks[0].notes.numpy()["velocity"].tolist()) == sorted(n[3] for n in notes)


def test_timing_against_the_beat_is_kept(tmp_path):
    beats = [(0.5 + 0.6 * k + 0.05 * (k % 3), "db,4/4" if k == 0 else ("db" if k % 4 == 0 else "b")) for k in range(9)]
    times = [t for t, _ in beats]
    # 10% of the beat period late on beat 2, 5% early on beat 5
    late = times[2] + 0.1 * (times[3] - times[2])
    early = times[5] - 0.05 * (times[5] - times[4])
    midi, ann = write_performance(tmp_path, "p", [(late, 0.2, 60, 80), (early, 0.2, 62, 80)], beats)
    score, _ = load_asap_performance(midi, ann, TPQ)
    assert onsets(score).tolist() == [2 * TPQ + 48, 5 * TPQ - 24]


def test_default_meter_irregular_bars_and_notes_outside_the_beats(tmp_path):
    labels = ["db", "b", "b", "b", "db", "b", "db,3/4", "b", "b", "db", "b", "b", "db", "b"]
    beats = [(1.0 + 0.5 * k, label) for k, label in enumerate(labels)]
    last = beats[-1][0]
    notes = [
        (1.0, 0.4, 60, 80),
        (last + 0.25, 0.2, 62, 80),  # half a beat after the last beat: extrapolated
        (last + 3.0, 0.2, 64, 80),  # six beats after it (over a bar): dropped
        (0.9, 0.05, 65, 80),  # a grace note just before the first beat
    ]
    midi, ann = write_performance(tmp_path, "p", notes, beats)
    score, dropped = load_asap_performance(midi, ann, TPQ)
    assert dropped == 1
    meters = [(ts.time, ts.numerator, ts.denominator) for ts in score.time_signatures]
    # 4/4 until the first annotated meter; the 2-beat bar before it gets a 2/4 of its own
    bar = 4 * TPQ
    assert meters == [(0, 4, 4), (bar + 4 * TPQ, 2, 4), (bar + 6 * TPQ, 3, 4)]
    # the grace note 0.2 beat early opened an incomplete first bar
    assert onsets(score).tolist() == [bar - 96, bar, bar + 13 * TPQ + 240]
    counts = Counter()
    src = SourceFile(str(midi), "asap/x/p.mid", "asap", None, json.dumps({"piece": "asap/x", "annotations": str(ann)}))
    load_source(src, TPQ, counts=counts)
    assert sum(counts.values()) == 1


def test_bad_annotations_are_refused(tmp_path):
    from cadenza_hf import MidiInputError

    path = tmp_path / "a_annotations.txt"
    for text in ("1.0\t1.0\tdb\n0.5\t0.5\tb\n", "1.0\t1.0\tx\n2.0\t2.0\tb\n", "1.0\t1.0\tdb,4/3\n2.0\t2.0\tb\n"):
        path.write_text(text)
        with pytest.raises(MidiInputError):
            read_asap_beats(path)


def make_collection(root: Path, pieces: int = 24, performances: int = 3) -> Path:
    """An ASAP-like collection: per piece a score and a few performances, with metadata.csv."""
    asap = root / "asap"
    rows = []
    beats = [(0.5 + 0.5 * k, "db,4/4" if k == 0 else ("db" if k % 4 == 0 else "b")) for k in range(40)]
    for p in range(pieces):
        folder = f"Composer{p % 3}/Work/piece_{p}"
        for k in range(performances):
            notes = [(0.5 + 0.25 * i + 0.01 * k, 0.2, 48 + (i * 5 + p) % 30, 50 + (i * 7 + k) % 40) for i in range(72)]
            write_performance(asap / folder, f"Pianist{k}", notes, beats)
            rows.append(
                {
                    "folder": folder,
                    "composer": f"Composer{p % 3}",
                    "title": f"piece_{p}",
                    "midi_score": f"{folder}/midi_score.mid",
                    "midi_score_annotations": f"{folder}/midi_score_annotations.txt",
                    "midi_performance": f"{folder}/Pianist{k}.mid",
                    "performance_annotations": f"{folder}/Pianist{k}_annotations.txt",
                }
            )
        write_performance(asap / folder, "midi_score", [(0.5, 0.5, 60, 64)], beats)
    write_performance(asap / "Composer0/Work/piece_0", "Unlisted", [(0.5, 0.5, 60, 64)], beats)
    with open(asap / "metadata.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return asap


def test_discovery_and_split_by_piece(tmp_path):
    asap = make_collection(tmp_path)
    found = discover([str(asap)])
    assert len(found) == 24 * 3  # scores and unlisted performances are not read
    assert {s.collection for s in found} == {"asap"}
    assert all(Path(s.path).stem.startswith("Pianist") for s in found)
    by_piece: dict[str, set] = {}
    for s in found:
        by_piece.setdefault(json.loads(s.extra)["piece"], set()).add(split_of(s))
    assert len(by_piece) == 24 and all(len(splits) == 1 for splits in by_piece.values())
    assert {next(iter(s)) for s in by_piece.values()} == {"train", "validation", "test"}
    assert [split_of(s) for s in discover([str(asap)])] == [split_of(s) for s in found]  # deterministic
    # a performance given alone is still ASAP (its annotations beside it)
    (lone,) = discover([str(asap / "Composer1/Work/piece_1/Pianist0.mid")])
    assert lone.collection == "asap" and split_of(lone) == split_of(next(s for s in found if s.path == lone.path))


def test_build_keeps_columns_and_labels(tmp_path):
    asap = make_collection(tmp_path, pieces=6, performances=2)
    dataset, summary = build_dataset([str(asap)], BuildOptions(), cache_dir=str(tmp_path / "cache"))
    assert summary.files_read == 12 and not summary.files_rejected
    rows = [r for split in dataset.values() for r in split.select_columns(["source", "collection", "split", "kind"])]
    assert rows and {r["collection"] for r in rows} == {"asap"}
    assert {r["kind"] for r in rows} <= {"melody", "polyphonic"}
    piece_split = {}
    for r in rows:
        piece = r["source"].rsplit("/", 1)[0]
        assert piece_split.setdefault(piece, r["split"]) == r["split"]


def test_asap_performers_count_as_pitched(tmp_path):
    from cadenza_hf.pipelines.performers import performer_kind

    (tmp_path / "training_record.json").write_text(json.dumps({"data": {"collections": ["asap"]}}))
    model = SimpleNamespace(config=SimpleNamespace(), name_or_path=str(tmp_path))
    assert performer_kind(model) == "pitched"


REAL = DATA / "asap" / "Bach" / "Fugue" / "bwv_848" / "Lee01M"


@pytest.mark.skipif(not REAL.with_suffix(".mid").is_file(), reason=f"{REAL}.mid not found (ASAP absent)")
def test_real_performance_keeps_feel_and_loses_tempo():
    raw = symusic.Score(str(REAL.with_suffix(".mid")))
    score, dropped = load_asap_performance(REAL.with_suffix(".mid"), f"{REAL}_annotations.txt", TPQ)

    def spread(times, sixteenth):  # std of the offset from the nearest 16th, % of a 16th
        x = np.asarray(times, np.float64) / sixteenth
        return float(np.std(x - np.round(x)) * 100)

    before = spread(raw.tracks[0].notes.numpy()["time"], raw.ticks_per_quarter / 4)
    after = spread(score.tracks[0].notes.numpy()["time"], SIXTEENTH)
    assert before > 25  # as recorded (free tempo), onsets are all over the 16th grid (uniform: 28.9)
    assert 3 < after < 18  # re-timed: close to the grid, but not quantized
    assert dropped == 0 and len(score.tracks[0].notes) == len(raw.tracks[0].notes)
    assert [(ts.numerator, ts.denominator) for ts in score.time_signatures] == [(4, 4)]
    beats = read_asap_beats(f"{REAL}_annotations.txt")
    assert abs(score.end() / (4 * TPQ) - len(beats.times) / 4) < 2  # about one bar per 4 annotated beats
