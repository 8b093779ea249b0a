"""Bars and bar windows of a score: which track, which bars, and the meta to restore.

A PerTok excerpt is one track over a window of whole bars. Bars follow the score's
time signatures (a change starts a new bar); a window may cross meter changes (4/4, 3/4,
5/4, ...), and then each bar keeps its own meter. The ``ExcerptMeta`` keeps what the
tokens do not carry (tempo map, meter of each bar, program, drum flag, track name) so a
decode can write the same tempo, meters and instrument back instead of 4/4, 120 bpm, piano.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import symusic

from .midi_io import MidiInputError

MAX_EXCERPT_NOTES = 1024  # notes in one window; real 4-bar tracks here hold at most a few hundred


@dataclass
class ExcerptMeta:
    """What a window's tokens do not carry. Times are ticks from the window start.

    ``time_signature`` is the meter of the window's first bar. ``bar_meters`` is None
    when every bar is in that meter (the usual case: nothing else changes), else the
    meter of each bar, ``bars`` long (a window across meter changes).
    """

    ticks_per_quarter: int = 480
    time_signature: tuple[int, int] = (4, 4)
    bar_meters: list[tuple[int, int]] | None = None
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
        """Length of the first bar (of every bar when ``bar_meters`` is None)."""
        num, den = self.time_signature
        return self.ticks_per_quarter * 4 * num // den

    @property
    def meters(self) -> list[tuple[int, int]]:
        """The meter of each bar of the window."""
        return list(self.bar_meters) if self.bar_meters else [tuple(self.time_signature)] * self.bars

    @property
    def bar_lengths(self) -> list[int]:
        """The length of each bar of the window, in ticks at ``ticks_per_quarter``."""
        return [self.ticks_per_quarter * 4 * num // den for num, den in self.meters]

    @property
    def meter(self):
        """``(num, den)`` when every bar has one meter, else the tuple of per-bar meters.

        The form ``PerTokTokenizer.grammar_errors(time_signature=...)``, ``ComposeOptions`` and
        the grammar logits processor take.
        """
        return tuple(self.bar_meters) if self.bar_meters else tuple(self.time_signature)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ExcerptMeta:
        data = dict(data)
        data["time_signature"] = tuple(data.get("time_signature", (4, 4)))
        if data.get("bar_meters"):
            data["bar_meters"] = [tuple(m) for m in data["bar_meters"]]
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


def run_of(runs, index: int) -> int:
    """Which run (meter) holds bar ``index`` (bars past the layout are in the last one)."""
    for i, run in enumerate(runs):
        if index < run[4]:
            return i
        index -= run[4]
    return len(runs) - 1


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


def meter_of_length(length: int, denominator: int, ticks_per_quarter: int) -> tuple[int, int] | None:
    """The meter whose bar lasts ``length`` ticks: over ``denominator`` if it can, else a finer one (up to 64)."""
    den = denominator
    while den <= 64:
        whole = 4 * ticks_per_quarter
        if (length * den) % whole == 0 and length * den // whole >= 1:
            return length * den // whole, den
        den *= 2
    return None


def window_bars(runs, start_bar: int, bars: int, ticks_per_quarter: int, source: str = ""):
    """``(lengths, meters)`` of the bars ``start_bar`` .. ``start_bar + bars - 1``, one entry per bar.

    A bar cut short by a meter change mid-bar lasts until the change and gets the meter of that
    length (MidiInputError if no meter up to x/64 has it).
    """
    layout = _extend(runs, start_bar + bars + 1)
    starts = [locate_bar(layout, b)[0] for b in range(start_bar, start_bar + bars + 1)]
    lengths, meters = [], []
    for b in range(bars):
        _start, nominal, num, den = locate_bar(layout, start_bar + b)
        length = starts[b + 1] - starts[b]
        meter = (num, den) if length == nominal else meter_of_length(length, den, ticks_per_quarter)
        if meter is None:
            raise MidiInputError(
                source, f"bar {start_bar + b} is cut to {length} ticks by a meter change, a length no meter has"
            )
        lengths.append(length)
        meters.append(meter)
    return lengths, meters


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
    meter_changes: bool = True,
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

    A window across meter changes keeps each bar's meter (``meta.bar_meters``, and a time
    signature at each change in the excerpt's score); a bar cut short by a change mid-bar
    gets the meter of its real length (a 4/4 bar cut after two beats is a 2/4 bar). With
    ``meter_changes=False`` such a window is refused instead ("the meter changes inside
    bars A-B"), as the dataset builder wants. A window in one meter is cut as it always was.
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
    bar_meters = None
    one_run = run_of(runs, start_bar) == run_of(runs, start_bar + bars - 1)  # 4/4 3/4 5/4 4/4 is not 4/4
    if one_run and last[1:] == first[1:] and last[0] == start + (bars - 1) * bar_ticks:  # one meter throughout
        window = bars * bar_ticks
        head = tail = margin_fn(bar_ticks)
    elif not meter_changes:
        raise MidiInputError(source, f"the meter changes inside bars {start_bar}-{start_bar + bars - 1}")
    else:
        lengths, bar_meters = window_bars(runs, start_bar, bars, score.ticks_per_quarter, source)
        window = sum(lengths)
        # a note this close before the first bar line is played ahead of it; one this close before the
        # window's end anticipates the next downbeat (each bar's own margin)
        head, tail = margin_fn(lengths[0]), margin_fn(lengths[-1])
    lo, hi = start - head, start + window - (0 if wrap_tail else tail)
    notes = track.notes.numpy()
    keep = (notes["time"] >= lo) & (notes["time"] < hi)
    if wrap_tail:
        wrapped = keep & (notes["time"] >= start + window - tail)
        notes["time"][wrapped] -= window
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
    if bar_meters:
        bar_start = 0
        for i, (length, meter) in enumerate(zip(lengths, bar_meters)):
            if i and meter != bar_meters[i - 1]:
                excerpt.time_signatures.append(symusic.TimeSignature(bar_start, *meter))
            bar_start += length
    tempos = tempo_map(score, start, hi)
    for time, qpm in tempos:
        excerpt.tempos.append(symusic.Tempo(time, qpm=qpm))
    meta = ExcerptMeta(
        ticks_per_quarter=score.ticks_per_quarter,
        time_signature=(num, den),
        bar_meters=bar_meters,
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
    "meter_of_length",
    "meter_segments",
    "run_of",
    "select_track",
    "tempo_map",
    "window_bars",
]
