"""Bars and bar windows of a score: which track, which bars, and the meta to restore.

A PerTok excerpt is one track over a window of whole bars. Bars follow the score's
time signatures (a change starts a new bar); a window must lie in one meter. The
``ExcerptMeta`` keeps what the tokens do not carry (tempo map, meter, program, drum
flag, track name) so a decode can write the same tempo, meter and instrument back
instead of 4/4, 120 bpm, piano.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import symusic

from .midi_io import MidiInputError

MAX_EXCERPT_NOTES = 1024  # notes in one window; real 4-bar tracks here hold at most a few hundred


@dataclass
class ExcerptMeta:
    """What a window's tokens do not carry. Times are ticks from the window start."""

    ticks_per_quarter: int = 480
    time_signature: tuple[int, int] = (4, 4)
    tempos: list[tuple[int, float]] = field(default_factory=lambda: [(0, 120.0)])
    program: int = 0
    is_drum: bool = False
    track_name: str = ""
    track_index: int = 0
    start_bar: int = 0
    bars: int = 4
    start_tick: int = 0
    source: str = ""
    dropped_notes: int = 0

    @property
    def bar_ticks(self) -> int:
        num, den = self.time_signature
        return self.ticks_per_quarter * 4 * num // den

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ExcerptMeta:
        data = dict(data)
        data["time_signature"] = tuple(data.get("time_signature", (4, 4)))
        data["tempos"] = [tuple(t) for t in data.get("tempos", [(0, 120.0)])]
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class Excerpt:
    """A single-track window: a ``symusic.Score`` starting at tick 0, plus its meta."""

    score: symusic.Score
    meta: ExcerptMeta


def meter_segments(score: symusic.Score) -> list[tuple[int, int, int]]:
    """``(start_tick, numerator, denominator)`` of each meter, 4/4 where none is given."""
    segments: list[tuple[int, int, int]] = []
    for ts in sorted(score.time_signatures, key=lambda t: t.time):
        if segments and segments[-1][0] == ts.time:
            segments.pop()  # several signatures on one tick: the last one wins
        if segments and segments[-1][1:] == (ts.numerator, ts.denominator):
            continue
        segments.append((int(ts.time), ts.numerator, ts.denominator))
    if not segments or segments[0][0] > 0:
        segments.insert(0, (0, 4, 4))
    return segments


def bar_layout(score: symusic.Score, end_tick: int) -> list[tuple[int, int, int, int, int]]:
    """Bars before ``end_tick``, run-length coded per meter (no per-bar list is built).

    Returns ``(start_tick, bar_ticks, numerator, denominator, num_bars)`` per meter run;
    a meter change starts a new bar even mid-bar.
    """
    tpq = score.ticks_per_quarter
    segments = meter_segments(score)
    runs = []
    for i, (start, num, den) in enumerate(segments):
        if start >= end_tick:
            break
        stop = min(segments[i + 1][0], end_tick) if i + 1 < len(segments) else end_tick
        length = max(1, tpq * 4 * num // den)
        runs.append((start, length, num, den, -(-(stop - start) // length)))
    return runs


def _extend(runs, total: int):
    """The same runs with the last meter repeated until there are ``total`` bars."""
    start, length, num, den, count = runs[-1]
    missing = total - sum(run[4] for run in runs)
    return [*runs[:-1], (start, length, num, den, count + max(0, missing))]


def count_bars(score: symusic.Score) -> int:
    """Number of bars up to the end of the last note."""
    return sum(run[4] for run in bar_layout(score, max(score.end(), 1)))


def locate_bar(runs, index: int) -> tuple[int, int, int, int] | None:
    """``(start_tick, bar_ticks, numerator, denominator)`` of bar ``index``, or None."""
    for start, length, num, den, count in runs:
        if index < count:
            return start + index * length, length, num, den
        index -= count
    return None


def bar_at(runs, tick: int) -> int:
    """Index of the bar holding ``tick`` (bars past the layout continue in the last meter)."""
    index = 0
    for i, (start, length, _num, _den, count) in enumerate(runs):
        if tick < start + count * length or i == len(runs) - 1:
            return index + max(0, (tick - start) // length)
        index += count
    return index


def first_bar_with_notes(score: symusic.Score, track_index: int, margin_fn) -> int:
    """The bar of the track's first note (a note just before a bar line belongs to that bar)."""
    notes = score.tracks[track_index].notes.numpy()
    first = int(notes["time"].min())
    runs = bar_layout(score, max(score.end(), first + 1))
    bar = bar_at(runs, first)
    start, length, _, _ = locate_bar(runs, bar) or locate_bar(_extend(runs, bar + 1), bar)
    return bar + 1 if first >= start + length - margin_fn(length) else bar


def select_track(score: symusic.Score, track: int | str | None, source: str) -> int:
    """Index of the requested track: by index, by name, or the busiest one when None."""
    names = [t.name for t in score.tracks]
    if track is None:
        counts = [len(t.notes) for t in score.tracks]
        return int(np.argmax(counts))
    if isinstance(track, (int, np.integer)) and not isinstance(track, bool):
        if 0 <= track < len(score.tracks):
            return int(track)
        raise MidiInputError(source, f"track {track} does not exist (tracks: {_list(names)})")
    if isinstance(track, str):
        for want in (track, track.lower()):
            for i, name in enumerate(names):
                if (name if want is track else name.lower()) == want:
                    return i
        raise MidiInputError(source, f"no track named {track!r} (tracks: {_list(names)})")
    raise MidiInputError(source, f"track must be an index, a name or None, got {type(track).__name__}")


def _list(names: list[str]) -> str:
    return ", ".join(f"{i}:{n or '<unnamed>'}" for i, n in enumerate(names)) or "none"


def tempo_map(score: symusic.Score, start: int, end: int) -> list[tuple[int, float]]:
    """The tempo in force at ``start`` (at tick 0) and the changes up to ``end``, shifted."""
    tempos = sorted(((int(t.time), float(t.qpm)) for t in score.tempos), key=lambda t: t[0])
    current = 120.0
    changes = []
    for time, qpm in tempos:
        if time <= start:
            current = qpm
        elif time < end:
            changes.append((time - start, qpm))
    return [(0, current), *changes]


def cut_window(
    score: symusic.Score,
    track_index: int,
    start_bar: int,
    bars: int,
    margin_fn,
    source: str,
    wrap_tail: bool = True,
    label_index: int | None = None,
) -> Excerpt:
    """Cut ``bars`` bars of one track starting at bar ``start_bar``.

    ``margin_fn(bar_ticks)`` gives how early a note may start and still belong to the
    window's first bar (it is played ahead of the beat). A note in the same margin just
    before the window's end is an anticipation of the next downbeat: with ``wrap_tail``
    (a user's idea) it wraps to the window's start, as a loop plays, so every note whose
    onset lies in the window's bars is kept; without it (consecutive dataset windows) it
    is left to the next window, so windows partition the time line.

    ``start_bar=None`` takes the first window (bars 0 to ``bars - 1``, then the next
    ``bars``, ...) that holds a note of the track. ``label_index`` is
    the track's number in the file, for messages (``score`` may hold that track alone).
    """
    if bars < 1:
        raise MidiInputError(source, f"bars must be at least 1, got {bars}")
    track = score.tracks[track_index]
    label = f"track {track_index if label_index is None else label_index} ({track.name or 'unnamed'})"
    if start_bar is None:
        if not len(track.notes):
            raise MidiInputError(source, f"{label} has no notes")
        start_bar = first_bar_with_notes(score, track_index, margin_fn) // bars * bars
    if start_bar < 0:
        raise MidiInputError(source, f"start bar must be >= 0, got {start_bar}")
    runs = bar_layout(score, max(score.end(), 1))
    total = sum(run[4] for run in runs)
    if start_bar >= total:
        raise MidiInputError(source, f"bar {start_bar} is past the end (the file has {total} bars)")
    first = locate_bar(runs, start_bar)
    # bars past the last note continue in the last meter (an idea may end in rests)
    last = locate_bar(runs, start_bar + bars - 1) or locate_bar(_extend(runs, start_bar + bars), start_bar + bars - 1)
    start, bar_ticks, num, den = first
    if last[1:] != first[1:] or last[0] != start + (bars - 1) * bar_ticks:
        raise MidiInputError(source, f"the meter changes inside bars {start_bar}-{start_bar + bars - 1}")
    margin = margin_fn(bar_ticks)
    window = bars * bar_ticks
    lo, hi = start - margin, start + window - (0 if wrap_tail else margin)
    notes = track.notes.numpy()
    keep = (notes["time"] >= lo) & (notes["time"] < hi)
    if wrap_tail:
        tail = keep & (notes["time"] >= start + window - margin)
        notes["time"][tail] -= window
        order = np.argsort(notes["time"], kind="stable")
        notes = {key: value[order] for key, value in notes.items()}
        keep = keep[order]
    count = int(keep.sum())
    if count == 0:
        where = ""
        if len(notes["time"]):
            first = bar_at(runs, int(notes["time"].min()))
            last = bar_at(runs, int(notes["time"].max()))
            where = f" (its notes lie in bars {first}-{last}: choose a start bar there, or none for the first)"
        raise MidiInputError(source, f"{label} has no notes in bars {start_bar}-{start_bar + bars - 1}{where}")
    if count > MAX_EXCERPT_NOTES:
        raise MidiInputError(source, f"{label} has {count} notes in the window, over the {MAX_EXCERPT_NOTES} limit")
    excerpt = symusic.Score(score.ticks_per_quarter)
    new_track = symusic.Track(name=track.name, program=track.program, is_drum=track.is_drum)
    new_track.notes = symusic.Note.from_numpy(
        notes["time"][keep] - start, notes["duration"][keep], notes["pitch"][keep], notes["velocity"][keep]
    )
    excerpt.tracks.append(new_track)
    excerpt.time_signatures.append(symusic.TimeSignature(0, num, den))
    tempos = tempo_map(score, start, hi)
    for time, qpm in tempos:
        excerpt.tempos.append(symusic.Tempo(time, qpm=qpm))
    meta = ExcerptMeta(
        ticks_per_quarter=score.ticks_per_quarter,
        time_signature=(num, den),
        tempos=tempos,
        program=track.program,
        is_drum=track.is_drum,
        track_name=track.name,
        track_index=track_index,
        start_bar=start_bar,
        bars=bars,
        start_tick=start,
        source=source,
    )
    return Excerpt(excerpt, meta)


__all__ = [
    "MAX_EXCERPT_NOTES",
    "Excerpt",
    "ExcerptMeta",
    "bar_at",
    "bar_layout",
    "count_bars",
    "cut_window",
    "first_bar_with_notes",
    "locate_bar",
    "meter_segments",
    "select_track",
    "tempo_map",
]
