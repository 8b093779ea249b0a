"""Put played MIDI on a beat grid so that bars, 16ths and microtiming mean something.

POP909 songs were played in by musicians against a drifting tempo: the notes do not sit
on a grid anchored at tick 0, the files carry tempo changes and 1/4 or 2/4 meter events.
Each song ships ``beat_midi.txt`` (beat times in seconds plus downbeat flags). Here
every note's time in seconds is mapped to a position in beats by interpolating between
the annotated beats, and the score is rewritten at a fixed tempo so that beat ``k``
sits at tick ``k * ticks_per_beat`` and bars start on annotated downbeats. What was
played ahead of or behind the beat stays as an offset from the grid, which is exactly
PerTok's microtiming.
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


def align_to_beats(score: symusic.Score, grid: BeatGrid, tpq: int = 480, source: str = "") -> symusic.Score:
    """Rewrite ``score`` on the beat grid: fixed tempo, bars on the annotated downbeats.

    Tempo is the median annotated beat rate (POP909 tempos drift by a few percent);
    every bar line is an annotated downbeat (see :func:`meter_changes`).
    The first bar line is the first annotated downbeat, moved back by whole bars while
    notes start before it (a pickup becomes an incomplete first bar).
    """
    seconds = score.to("second")
    ticks_per_beat = tpq * 3 // 2 if grid.beat_unit == 8 else tpq
    origin = float(grid.downbeats[0])
    starts = [t.notes.numpy() for t in seconds.tracks]
    earliest = min(
        (_beat_position(n["time"].astype(np.float64), grid.times).min() for n in starts if len(n["time"])),
        default=origin,
    )
    if earliest < origin:
        origin -= grid.beats_per_bar * np.ceil((origin - earliest) / grid.beats_per_bar)
    out = symusic.Score(tpq)
    for track, notes in zip(seconds.tracks, starts):
        new = symusic.Track(name=track.name, program=track.program, is_drum=track.is_drum)
        if len(notes["time"]):
            on = _beat_position(notes["time"].astype(np.float64), grid.times)
            off = _beat_position((notes["time"] + notes["duration"]).astype(np.float64), grid.times)
            on_ticks = np.round((on - origin) * ticks_per_beat).astype(np.int32)
            dur = np.maximum(np.round((off - on) * ticks_per_beat), 1).astype(np.int32)
            new.notes = symusic.Note.from_numpy(on_ticks, dur, notes["pitch"], notes["velocity"])
        out.tracks.append(new)
    ibi = float(np.median(np.diff(grid.times)))
    out.tempos.append(symusic.Tempo(0, qpm=60.0 / ibi * ticks_per_beat / tpq))
    for tick, num, den in meter_changes(grid, origin, ticks_per_beat):
        out.time_signatures.append(symusic.TimeSignature(tick, num, den))
    if source and min((int(t.notes.numpy()["time"].min()) for t in out.tracks if len(t.notes)), default=0) < 0:
        raise MidiInputError(source, "notes before the aligned origin")
    return out


def load_pop909_song(folder: str | Path, index_row: dict | None = None, tpq: int = 480) -> symusic.Score:
    """Read ``NNN/NNN.mid`` of a POP909 song and align it to ``NNN/beat_midi.txt``."""
    from .midi_io import read_midi

    folder = Path(folder)
    midi = folder / f"{folder.name}.mid"
    beats_per_bar = int(index_row["num_beats_per_measure"]) if index_row else 2
    quavers = int(index_row["num_quavers_per_beat"]) if index_row else 2
    grid = read_pop909_beats(folder / "beat_midi.txt", 3 if beats_per_bar == 3 else 4, quavers)
    return align_to_beats(read_midi(midi), grid, tpq, str(midi))


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
    "BeatGrid",
    "align_to_beats",
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
