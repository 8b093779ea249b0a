"""Put played MIDI on a beat grid so that bars, 16ths and microtiming mean something.

POP909 songs were played in by musicians against a drifting tempo: the notes do not sit
on a grid anchored at tick 0, the files carry tempo changes and 1/4 or 2/4 meter events.
Each song ships ``beat_midi.txt`` (beat times in seconds plus downbeat flags). Here
every note's time in seconds is mapped to a position in beats by interpolating between
the annotated beats, and the score is rewritten at a fixed tempo so that beat ``k``
sits at tick ``k * ticks_per_beat`` and bars start on annotated downbeats. What was
played ahead of or behind the beat stays as an offset from the grid, which is exactly
PerTok's microtiming.

(n)ASAP classical performances are re-timed by the same warp (:func:`retime_on_beats`) on
their ``*_annotations.txt`` beats, with the meters those annotations name
(:func:`load_asap_performance`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import symusic

from .midi_io import MidiInputError


@dataclass
class BeatGrid:
    """Annotated beats: times in seconds, and the indices of the bar downbeats."""

    times: np.ndarray
    downbeats: np.ndarray
    beats_per_bar: int
    beat_unit: int = 4  # 4: the beat is a quarter; 8: a dotted quarter (compound meter)

    @property
    def time_signature(self) -> tuple[int, int]:
        if self.beat_unit == 8:
            return 3 * self.beats_per_bar, 8
        return self.beats_per_bar, 4


def read_pop909_beats(path: str | Path, beats_per_bar: int = 4, quavers_per_beat: int = 2) -> BeatGrid:
    """Read a POP909 ``beat_midi.txt``.

    Column 2 flags the downbeats of a 2-beat reading (of a 3-beat one in triple-meter
    songs) and column 3 those of a 4-beat reading, so songs listed in ``index.csv``
    with 2 beats per measure get 4-beat bars from column 3 and 3-beat songs 3-beat bars
    from column 2. Compound-meter songs (3 quavers per beat) have dotted-quarter beats.
    """
    try:
        table = np.loadtxt(path, ndmin=2)
    except (OSError, ValueError) as err:
        raise MidiInputError(str(path), f"unreadable beat file ({err})") from None
    if table.shape[0] < 8 or table.shape[1] < 3 or not np.all(np.diff(table[:, 0]) > 0):
        raise MidiInputError(str(path), "beat file needs at least 8 increasing beat times and 3 columns")
    if beats_per_bar == 3:
        column, bar = 1, 3
    else:
        column, bar = 2, 4
    downbeats = np.flatnonzero(table[:, column] > 0.5)
    if len(downbeats) == 0:
        raise MidiInputError(str(path), "beat file marks no downbeats")
    return BeatGrid(table[:, 0], downbeats, bar, 8 if quavers_per_beat == 3 else 4)


def meter_changes(grid: BeatGrid, origin: float, ticks_per_beat: int) -> list[tuple[int, int, int]]:
    """``(tick, numerator, denominator)`` at every annotated bar whose length changes.

    About 3% of POP909 bars are not ``beats_per_bar`` long (a 2- or 6-beat bar at a
    phrase seam); each gets its own meter event, so later bars stay on the annotated
    downbeats instead of drifting. Windows across such a seam are refused by the
    excerpt cutter (the meter changes inside them) and skipped by the dataset builder.
    """
    unit_num, den = grid.time_signature
    per_beat = unit_num // grid.beats_per_bar  # 1 for x/4, 3 for compound x/8
    lengths = np.diff(grid.downbeats).tolist() + [grid.beats_per_bar]
    events, current = [(0, unit_num, den)], grid.beats_per_bar
    for start, length in zip(grid.downbeats.tolist(), lengths):
        if length != current:
            tick = int(round((start - origin) * ticks_per_beat))
            events.append((tick, length * per_beat, den))
            current = length
    return events


def _beat_position(seconds: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Fractional beat index of each time; linear extrapolation past either end."""
    idx = np.arange(len(times), dtype=np.float64)
    pos = np.interp(seconds, times, idx)
    before, after = seconds < times[0], seconds > times[-1]
    pos[before] = (seconds[before] - times[0]) / (times[1] - times[0])
    pos[after] = idx[-1] + (seconds[after] - times[-1]) / (times[-1] - times[-2])
    return pos


def _position_ticks(pos: np.ndarray, ticks: np.ndarray) -> np.ndarray:
    """Fractional beat indices to ticks: linear between the beats' ticks, and past either
    end at the length of the nearest beat."""
    idx = np.arange(len(ticks), dtype=np.float64)
    out = np.interp(pos, idx, ticks)
    before, after = pos < 0, pos > idx[-1]
    out[before] = ticks[0] + pos[before] * (ticks[1] - ticks[0])
    out[after] = ticks[-1] + (pos[after] - idx[-1]) * (ticks[-1] - ticks[-2])
    return out


def retime_on_beats(
    score: symusic.Score,
    times: np.ndarray,
    ticks: np.ndarray,
    meters: list[tuple[int, int, int]],
    tpq: int = 480,
    source: str = "",
    margin_beats: tuple[float, float] | None = None,
) -> tuple[symusic.Score, int]:
    """The time warp shared by every beat-annotated collection.

    Annotated beat ``k`` (``times[k]`` seconds) lands on ``ticks[k]`` (ticks counted from
    the first bar line, which is at 0); between beats, time is mapped linearly, and past
    the first or last beat it continues at that beat's period. ``meters`` holds
    ``(tick, numerator, denominator)`` on that same scale, the first being the meter of
    the first bar. When notes start before tick 0, everything moves later by whole
    first-meter bars (a pickup becomes an incomplete first bar) and the first meter is
    written at tick 0. ``margin_beats=(before, after)`` drops the notes starting more than
    that many beats before the first or after the last annotated beat (default: keep all).
    The tempo is the median annotated rate, in quarters. Returns the score and the number
    of notes dropped.
    """
    seconds = score.to("second")
    times = np.asarray(times, np.float64)
    ticks = np.asarray(ticks, np.float64)
    tracks, dropped = [], 0
    for track in seconds.tracks:
        notes = track.notes.numpy()
        start = notes["time"].astype(np.float64)
        pos = _beat_position(start, times)
        if margin_beats is not None and len(pos):
            keep = (pos >= -margin_beats[0]) & (pos <= len(times) - 1 + margin_beats[1])
            dropped += int((~keep).sum())
            notes = {k: v[keep] for k, v in notes.items()}
            start, pos = start[keep], pos[keep]
        on = _position_ticks(pos, ticks)
        off = _position_ticks(_beat_position(start + notes["duration"], times), ticks)
        tracks.append((track, notes, on, off))
    earliest = min((float(on.min()) for *_, on, _ in tracks if len(on)), default=0.0)
    _, num, den = meters[0]
    bar = tpq * 4 * num / den
    shift = bar * np.ceil(-earliest / bar) if earliest < 0 else 0.0
    out = symusic.Score(tpq)
    for track, notes, on, off in tracks:
        new = symusic.Track(name=track.name, program=track.program, is_drum=track.is_drum)
        if len(on):
            on_ticks = np.round(on + shift).astype(np.int32)
            dur = np.maximum(np.round(off - on), 1).astype(np.int32)
            new.notes = symusic.Note.from_numpy(on_ticks, dur, notes["pitch"], notes["velocity"])
        out.tracks.append(new)
    per_quarter = np.diff(times) * tpq / np.diff(ticks)
    out.tempos.append(symusic.Tempo(0, qpm=60.0 / float(np.median(per_quarter))))
    for i, (tick, num, den) in enumerate(meters):
        out.time_signatures.append(symusic.TimeSignature(0 if i == 0 else int(round(tick + shift)), num, den))
    if source and min((int(t.notes.numpy()["time"].min()) for t in out.tracks if len(t.notes)), default=0) < 0:
        raise MidiInputError(source, "notes before the aligned origin")
    return out, dropped


def align_to_beats(score: symusic.Score, grid: BeatGrid, tpq: int = 480, source: str = "") -> symusic.Score:
    """Rewrite ``score`` on the beat grid: fixed tempo, bars on the annotated downbeats.

    Tempo is the median annotated beat rate (POP909 tempos drift by a few percent);
    every bar line is an annotated downbeat (see :func:`meter_changes`).
    The first bar line is the first annotated downbeat, moved back by whole bars while
    notes start before it (a pickup becomes an incomplete first bar).
    """
    ticks_per_beat = tpq * 3 // 2 if grid.beat_unit == 8 else tpq
    origin = float(grid.downbeats[0])
    ticks = (np.arange(len(grid.times), dtype=np.float64) - origin) * ticks_per_beat
    meters = meter_changes(grid, origin, ticks_per_beat)
    return retime_on_beats(score, grid.times, ticks, meters, tpq, source)[0]


def load_pop909_song(folder: str | Path, index_row: dict | None = None, tpq: int = 480) -> symusic.Score:
    """Read ``NNN/NNN.mid`` of a POP909 song and align it to ``NNN/beat_midi.txt``."""
    from .midi_io import read_midi

    folder = Path(folder)
    midi = folder / f"{folder.name}.mid"
    beats_per_bar = int(index_row["num_beats_per_measure"]) if index_row else 2
    quavers = int(index_row["num_quavers_per_beat"]) if index_row else 2
    grid = read_pop909_beats(folder / "beat_midi.txt", 3 if beats_per_bar == 3 else 4, quavers)
    return align_to_beats(read_midi(midi), grid, tpq, str(midi))


@dataclass
class AnnotatedBeats:
    """Beats annotated on a performance, each with the meter of its bar.

    ``meters[k]`` is the ``(numerator, denominator)`` in force at beat ``k``: the last
    ``db,<meter>`` label at or before it, 4/4 before the first one, and for the beats
    before the first downbeat (a pickup) the first downbeat's meter.
    """

    times: np.ndarray
    downbeats: np.ndarray
    meters: list[tuple[int, int]]


def beats_per_bar(meter: tuple[int, int]) -> tuple[int, int]:
    """How annotated beats count a bar of ``meter``: ``(beats per bar, denominator units
    per beat)``. Compound meters (6/8, 9/8, 12/8, 6/4, 12/16, ...) count dotted beats of
    three units, every other meter beats of one unit (3/8: three eighths, 2/2: two halves)."""
    num, _ = meter
    if num > 3 and num % 3 == 0:
        return num // 3, 3
    return num, 1


def beat_ticks(meter: tuple[int, int], tpq: int) -> int:
    """Ticks of one annotated beat in ``meter`` (a quarter in x/4, a dotted quarter in 6/8)."""
    return tpq * 4 * beats_per_bar(meter)[1] // meter[1]


def _parse_meter(text: str, path) -> tuple[int, int]:
    num, sep, den = text.partition("/")
    try:
        meter = (int(num), int(den))
    except ValueError:
        raise MidiInputError(str(path), f"unreadable time signature {text!r} in the beat annotations") from None
    if not sep or not 1 <= meter[0] <= 64 or meter[1] not in (1, 2, 4, 8, 16, 32, 64):
        raise MidiInputError(str(path), f"unusable time signature {text!r} in the beat annotations")
    return meter


def read_asap_beats(path: str | Path) -> AnnotatedBeats:
    """Read an (n)ASAP ``*_annotations.txt``: tab-separated ``time, time, label`` lines,
    the label ``b`` (or ``bR``) for a beat and ``db`` for a downbeat, optionally followed
    by ``,<time signature>,<key>`` where they change (``db,6/8,-1``, ``b,,7``)."""
    times, down, annotated = [], [], []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise MidiInputError(str(path), f"unreadable beat file ({err})") from None
    for line in lines:
        if not line.strip():
            continue
        fields = line.split("\t")
        try:
            label = fields[2].split(",")
            times.append(float(fields[0]))
        except (IndexError, ValueError):
            raise MidiInputError(str(path), f"beat line {line!r} is not 'time<TAB>time<TAB>label'") from None
        if label[0] not in ("b", "bR", "db"):
            raise MidiInputError(str(path), f"unknown beat label {fields[2]!r}")
        down.append(label[0] == "db")
        annotated.append(_parse_meter(label[1], path) if label[0] == "db" and len(label) > 1 and label[1] else None)
    times_arr = np.asarray(times, np.float64)
    if len(times_arr) < 2 or not np.all(np.diff(times_arr) > 0):
        raise MidiInputError(str(path), "beat file needs at least 2 increasing beat times")
    downbeats = np.flatnonzero(down)
    if len(downbeats) == 0:
        raise MidiInputError(str(path), "beat file marks no downbeats")
    meters, current = [], (4, 4)
    for meter in annotated:
        current = meter or current
        meters.append(current)
    first = downbeats[0]
    meters[:first] = [meters[first]] * first
    return AnnotatedBeats(times_arr, downbeats, meters)


def annotated_meters(beats: AnnotatedBeats, tpq: int = 480) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Tick of every annotated beat (the first downbeat at 0) and the meter events.

    Each beat lasts :func:`beat_ticks` of its meter. Every bar gets the annotated meter,
    except a bar whose beat count differs from it (a cadenza written as one long bar, a
    missed downbeat): that bar gets its own meter of as many beats (its beat unit kept),
    so every later bar line still falls on an annotated downbeat. Events are
    ``(tick, numerator, denominator)`` where the meter changes, after the first
    downbeat's annotated meter at tick 0 (which a pickup bar also gets).
    """
    lengths = np.asarray([beat_ticks(m, tpq) for m in beats.meters], np.float64)
    ticks = np.concatenate([[0.0], np.cumsum(lengths[:-1])])
    ticks -= ticks[beats.downbeats[0]]
    starts = beats.downbeats.tolist()
    events: list[tuple[int, int, int]] = [(0, *beats.meters[starts[0]])]
    for i, start in enumerate(starts):
        num, den = beats.meters[start]
        count, per_beat = beats_per_bar((num, den))
        actual = (starts[i + 1] if i + 1 < len(starts) else start + count) - start
        meter = (num, den) if actual == count else (actual * per_beat, den)
        if events[-1][1:] != meter:
            events.append((int(round(ticks[start])), *meter))
    return ticks, events


def load_asap_performance(
    midi: str | Path, annotations: str | Path, tpq: int = 480, margin_bars: float = 1.0
) -> tuple[symusic.Score, int]:
    """Read an (n)ASAP performance re-timed on its annotated beats; returns ``(score, dropped)``.

    Each annotated beat becomes one beat of its notated meter at a fixed tempo (a quarter
    in x/4, which is most of ASAP; a dotted quarter in 6/8, an eighth in 3/8, a half in
    2/2), through the same piecewise-linear warp as POP909 (:func:`retime_on_beats`), so
    the score's own grid (16ths, triplets) stays on the tokenizer's grid and what remains
    is the pianist's velocity and micro-timing against the beat. Bar lines are the
    annotated downbeats, time signatures those of the ``db,<meter>`` labels (4/4 until the
    first; see :func:`annotated_meters`), a pickup is an incomplete first bar.
    Notes starting up to ``margin_bars`` bars (of the first / last bar's meter) before the
    first or after the last annotated beat are kept, timed by extrapolating the nearest
    beat's period (a last chord, a pickup before the first annotated beat); notes further
    out are dropped and counted (annotations that stop before the recording does).
    """
    from .midi_io import read_midi

    beats = read_asap_beats(annotations)
    ticks, events = annotated_meters(beats, tpq)
    margin = (
        margin_bars * beats_per_bar(beats.meters[0])[0],
        margin_bars * beats_per_bar(beats.meters[-1])[0],
    )
    return retime_on_beats(read_midi(midi), beats.times, ticks, events, tpq, str(midi), margin)


def grid_hit_rate(score: symusic.Score, division: int = 4, tolerance: float = 0.01, track: str | None = None) -> float:
    """Share of onsets within ``tolerance`` of a 1/``division``-beat grid anchored at 0."""
    step = score.ticks_per_quarter / division
    hits = total = 0
    for t in score.tracks:
        if track is not None and t.name != track:
            continue
        times = t.notes.numpy()["time"].astype(np.float64)
        dist = np.abs(times / step - np.round(times / step))
        hits += int((dist <= tolerance).sum())
        total += len(times)
    return hits / total if total else 0.0


__all__ = [
    "AnnotatedBeats",
    "BeatGrid",
    "align_to_beats",
    "annotated_meters",
    "beat_ticks",
    "beats_per_bar",
    "load_asap_performance",
    "read_asap_beats",
    "retime_on_beats",
    "meter_changes",
    "grid_hit_rate",
    "load_pop909_song",
    "read_pop909_beats",
]


def estimate_grid_offset(score: symusic.Score, beats_per_bar: int = 4, tolerance: float = 0.01) -> int:
    """Estimate where the bar grid starts from the onsets alone (no beat file needed).

    For files whose ticks follow the beat but whose bar lines are not at tick 0 (a
    pickup, or a recording that started late). Three steps, each a small exhaustive
    search: the 16th-note phase that puts the most onsets within ``tolerance`` of a
    16th, then which of the four 16ths is the beat (most onsets on it), then which beat
    is the downbeat (the most onsets on it: harmony changes and bass notes land there).
    Returns the tick of the first estimated bar line, in ``[0, bar)``.
    """
    tpq = score.ticks_per_quarter
    onsets = np.concatenate([t.notes.numpy()["time"] for t in score.tracks if len(t.notes)]).astype(np.int64)
    step = tpq // 4

    def hits(offset: int, period: int) -> int:
        phase = (onsets - offset) % period
        return int(np.sum(np.minimum(phase, period - phase) <= tolerance * step))

    phase16 = max(range(step), key=lambda p: hits(p, step))
    beat = max((phase16 + k * step for k in range(4)), key=lambda p: hits(p, tpq))
    bar = tpq * beats_per_bar
    return max((beat + k * tpq for k in range(beats_per_bar)), key=lambda p: hits(p % bar, bar)) % bar


def align_by_onsets(score: symusic.Score, beats_per_bar: int = 4) -> symusic.Score:
    """Shift ``score`` so that the estimated bar grid (:func:`estimate_grid_offset`)
    starts at tick 0, with a ``beats_per_bar``/4 meter. Notes before the first bar line
    move into an extra bar at the start."""
    offset = estimate_grid_offset(score, beats_per_bar)
    first = min(int(t.notes.numpy()["time"].min()) for t in score.tracks if len(t.notes))
    bar = score.ticks_per_quarter * beats_per_bar
    shift = -offset if first >= offset else bar - offset
    out = score.shift_time(shift)
    out.time_signatures.clear()
    out.time_signatures.append(symusic.TimeSignature(0, beats_per_bar, 4))
    return out


__all__ += ["align_by_onsets", "estimate_grid_offset"]
