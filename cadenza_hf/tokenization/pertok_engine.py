"""The PerTok engine: miditok's ``PerTok`` with bar-exact, grid-exact timing.

``CadenzaPerTok`` subclasses ``miditok.PerTok`` (the reference implementation the
paper published) and keeps its vocabulary for pitches, drum pitches, velocities,
durations, microtiming and special tokens, its score preprocessing (resampling,
velocity binning, pitch-range filtering) and its per-note event creation. It
overrides only the hooks below; each says how it differs from upstream.

Why the timing hooks are replaced (all measured on miditok 3.1.0):

- Upstream quantizes each note *relative to the previous quantized note*. With
  overlapping grids the sum of a 16th shift (120 ticks at 480 tpq) and a triplet shift
  (160) lands on 280, which is on neither grid, so the composition drifts off the grid
  and ``Microtiming`` absorbs the error. Here every onset snaps to the nearest point of
  the union grid measured from its bar line, and ``TimeShift`` tokens carry the exact
  difference between consecutive grid positions (multiples of the grids' common step).
- Upstream hard-codes 4/4 bars (and computes ``den / 4 * num`` quarters per bar for
  time-signature tokens, wrong for x/8 and x/2). Here the bar length follows the
  excerpt's time signature, read from the score being encoded; with several (a window
  across meter changes) each bar has its own length and positions count from its own
  bar line.
- Upstream writes no ``Bar`` for the first bar and none for trailing empty bars, so the
  number of bars cannot be read from the tokens. Here every bar opens with ``Bar``.
- Upstream emits one ``TimeShift`` per note, truncating gaps longer than its largest
  value. Here long gaps are written as several shifts (the largest value first).
- Chord notes are ordered by pitch (upstream: by raw onset), so a chord has one
  canonical spelling that a grammar can check.
"""

from __future__ import annotations

import bisect
import math

import numpy as np
from miditok import PerTok, TokenizerConfig
from miditok.classes import Event, TokSequence
from symusic import Note, Score, Track

PITCH_TYPES = ("Pitch", "PitchDrum")


def _ticks_to_str(ticks: int, tpq: int) -> str:
    """Write ticks in PerTok's ``beat.ticks.tpq`` token value format."""
    return f"{ticks // tpq}.{ticks % tpq}.{tpq}"


def _str_to_ticks(value: str) -> int:
    beat, sub, tpq = (int(x) for x in value.split("."))
    return beat * tpq + sub


class CadenzaPerTok(PerTok):
    """miditok ``PerTok`` with bar-exact and grid-exact timing (see module docstring).

    Args:
        config: a miditok ``TokenizerConfig`` whose ``additional_params`` carry
            ``ticks_per_quarter``, ``use_microtiming``, ``max_microtiming_shift``,
            ``num_microtiming_bins``, ``grids`` (divisions of a whole note, e.g.
            ``[16, 12, 6]``), ``max_duration_beats`` and ``max_timeshift_beats``.
    """

    def __init__(self, config: TokenizerConfig):
        self._bar_ticks = None
        self._bar_layout = None  # (starts, lengths) of the bars when the meter changes, else None
        super().__init__(config)
        self._bar_ticks = 4 * self.tpq

    # ---- vocabulary -----------------------------------------------------------------
    def _tweak_config_before_creating_voc(self) -> None:
        # Identical to PerTok except: also derives the grid steps and time-shift values.
        super()._tweak_config_before_creating_voc()
        params = self.config.additional_params
        self.grid_steps = sorted({4 * self.tpq // g for g in params["grids"]})
        self.shift_step = math.gcd(*self.grid_steps)
        max_shift = int(params["max_timeshift_beats"] * self.tpq)
        self.shift_values = list(range(self.shift_step, max_shift + 1, self.shift_step))

    def _create_durations_tuples(self) -> list[tuple[int, int, int]]:
        # Replaces PerTok's: durations are the union-grid points in (0, max_duration].
        max_dur = int(self.config.additional_params["max_duration_beats"] * self.tpq)
        ticks = sorted({t for s in self.grid_steps for t in range(s, max_dur + 1, s)})
        self.duration_ticks = ticks
        self.min_timeshift = min(self.grid_steps) // 2
        return [(t // self.tpq, t % self.tpq, self.tpq) for t in ticks]

    def _create_base_vocabulary(self) -> list[str]:
        # Identical to PerTok except: TimeShift tokens are the exact grid differences.
        vocab = [v for v in super()._create_base_vocabulary() if not v.startswith("TimeShift_")]
        bar = vocab.index("Bar_None")
        shifts = [f"TimeShift_{_ticks_to_str(t, self.tpq)}" for t in self.shift_values]
        return vocab[: bar + 1] + shifts + vocab[bar + 1 :]

    # ---- grid helpers ------------------------------------------------------------------
    def grid_positions(self, bar_ticks: int) -> tuple[int, ...]:
        """Union-grid onsets inside one bar of ``bar_ticks`` ticks, bar line first."""
        cache = self.__dict__.setdefault("_grid_cache", {})
        if bar_ticks not in cache:
            cache[bar_ticks] = tuple(sorted({t for s in self.grid_steps for t in range(0, bar_ticks, s)}))
        return cache[bar_ticks]

    def snap_margin(self, bar_ticks: int) -> int:
        """Notes this close before a bar line belong to the next bar (half the last gap)."""
        return (bar_ticks - self.grid_positions(bar_ticks)[-1]) // 2

    def quantize_onset(self, tick: int, bar_ticks: int) -> tuple[int, int, int]:
        """Snap an onset to the union grid: returns ``(bar, position, microtiming)``.

        Ties go to the later grid point, so a window's end margin and the next
        window's start margin partition the time line.
        """
        grid = self.grid_positions(bar_ticks)
        bar, rel = divmod(tick, bar_ticks)
        i = bisect.bisect_left(grid, rel)
        if i == len(grid):
            nxt = bar_ticks
        else:
            nxt = grid[i]
        if i > 0 and rel - grid[i - 1] < nxt - rel:
            pos = grid[i - 1]
        else:
            pos = nxt
        if pos == bar_ticks:
            bar, pos = bar + 1, 0
        return bar, pos, tick - (bar * bar_ticks + pos)

    def bar_layout(self, signatures, end: int) -> tuple[list[int], list[int]]:
        """``(starts, lengths)`` of the bars of a score whose meter changes, through ``end``.

        ``signatures`` are ``(tick, numerator, denominator)``; a change starts a new bar (a
        bar it cuts short lasts until the change). Bars after the last change continue in
        the last meter until past ``end``.
        """
        segments: list[tuple[int, int, int]] = []
        for tick, num, den in sorted(signatures, key=lambda t: t[0]):
            if segments and segments[-1][0] == tick:
                segments.pop()  # several signatures on one tick: the last one wins
            if not segments or segments[-1][1:] != (num, den):
                segments.append((tick, num, den))
        if not segments or segments[0][0] > 0:
            segments.insert(0, (0, 4, 4))
        starts, lengths = [], []
        for i, (tick, num, den) in enumerate(segments):
            length = max(1, self.tpq * 4 * num // den)
            stop = segments[i + 1][0] if i + 1 < len(segments) else max(end, tick) + 1
            while tick < stop:
                starts.append(tick)
                lengths.append(length if i + 1 == len(segments) else min(length, stop - tick))
                tick += length
        return starts, lengths

    def quantize_in_layout(self, tick: int) -> tuple[int, int, int]:
        """:meth:`quantize_onset` over bars of different lengths (``self._bar_layout``).

        A note before the first bar line (within the margin a window keeps) is played
        ahead of bar 0's downbeat: bar 0, position 0, negative microtiming.
        """
        starts, lengths = self._bar_layout
        if tick < 0:
            return 0, 0, tick
        i = bisect.bisect_right(starts, tick) - 1
        start, length = starts[i], lengths[i]
        if i == len(starts) - 1 and tick >= start + length:  # past the layout: the last meter goes on
            extra = (tick - start) // length
            i, start = i + extra, start + extra * length
        bar, pos, micro = self.quantize_onset(tick - start, length)
        return i + bar, pos, micro

    def bar_start(self, bar: int) -> int:
        """Tick of bar ``bar``'s line in the score being encoded."""
        if self._bar_layout is None:
            return bar * self._bar_ticks
        starts, lengths = self._bar_layout
        if bar < len(starts):
            return starts[bar]
        return starts[-1] + (bar - len(starts) + 1) * lengths[-1]

    def split_shift(self, delta: int) -> list[int]:
        """Write a positive grid difference as TimeShift values, largest first."""
        out, largest = [], self.shift_values[-1]
        while delta > largest:
            out.append(largest)
            delta -= largest
        out.append(delta)
        return out

    def nearest_microtiming(self, ticks: int) -> int:
        values = self.microtiming_tick_values
        i = int(np.abs(values - ticks).argmin())
        return int(values[i])

    # ---- encoding hooks --------------------------------------------------------------
    def _score_to_tokens(self, score, attribute_controls_indexes=None):
        # Identical to PerTok except: the bar lengths are taken from the score's time
        # signatures before the time events are added (one length for one meter).
        if len(score.time_signatures):
            ts = score.time_signatures[0]
            self._bar_ticks = self.tpq * 4 * ts.numerator // ts.denominator
        else:
            self._bar_ticks = 4 * self.tpq
        signatures = [(int(ts.time), ts.numerator, ts.denominator) for ts in score.time_signatures]
        self._bar_layout = None
        if len({(num, den) for _, num, den in signatures}) > 1:
            self._bar_layout = self.bar_layout(signatures, int(score.end()))
        return super()._score_to_tokens(score, attribute_controls_indexes)

    def _create_duration_event(self, note, _program, _ticks_per_beat, _tpb_idx) -> Event:
        # Identical to PerTok except: nearest duration by bisection, not a linear scan.
        ticks = self.duration_ticks
        i = bisect.bisect_left(ticks, note.duration)
        if i == len(ticks) or (i > 0 and note.duration - ticks[i - 1] <= ticks[i] - note.duration):
            i = max(i - 1, 0)
        return Event("Duration", _ticks_to_str(ticks[i], self.tpq), note.start, _program)

    def _add_time_events(self, events: list[Event], _time_division: int) -> list[Event]:
        # Replaces PerTok's: see the module docstring.
        notes = self._group_notes(events)
        out: list[Event] = []
        cur_bar, prev_pos = -1, 0
        for (bar, pos, _pitch), mt, note_events in notes:
            while cur_bar < bar:
                cur_bar += 1
                prev_pos = 0
                out.append(Event("Bar", "None", self.bar_start(cur_bar)))
            if pos > prev_pos:
                for shift in self.split_shift(pos - prev_pos):
                    out.append(Event("TimeShift", _ticks_to_str(shift, self.tpq), note_events[0].time))
                prev_pos = pos
            out.append(note_events[0])
            if self.use_microtiming:
                out.append(Event("MicroTiming", mt, note_events[0].time))
            out.extend(note_events[1:])
        return out

    def _group_notes(self, events: list[Event]) -> list:
        """Group each pitch event with its velocity/duration events and quantize it."""
        groups: list = []
        max_mt = int(self.max_mt_shift)
        for event in events:
            if event.type_ in PITCH_TYPES:
                if self._bar_layout is None:
                    bar, pos, mt = self.quantize_onset(event.time, self._bar_ticks)
                else:
                    bar, pos, mt = self.quantize_in_layout(event.time)
                mt = max(-max_mt, min(max_mt, mt))
                if self.use_microtiming:
                    mt = self.nearest_microtiming(mt)
                groups.append(((bar, pos, int(event.value)), mt, [event]))
            elif groups and event.type_ in ("Velocity", "Duration"):
                groups[-1][2].append(event)
        groups.sort(key=lambda g: g[0])
        return groups

    # ---- decoding --------------------------------------------------------------------
    def tokens_to_notes(self, tokens: list[str], bar_ticks, default_duration: int) -> list[tuple]:
        """Decode token strings into ``(onset, duration, pitch, velocity)`` tuples.

        ``bar_ticks`` is the bar length, or a list of each bar's length (bars past the
        list continue with its last length).

        Special tokens are skipped. A MASK in a performance slot, or a missing
        performance token, decodes to microtiming 0 and the default velocity; a missing
        duration decodes to ``default_duration`` ticks. An onset played ahead of the first
        bar line stays negative (it is clamped only when written to a MIDI file).
        """
        start_of = bar_starts(bar_ticks)
        notes, bar, pos = [], -1, 0
        current = None  # [onset, duration, pitch, velocity] of the note being read
        for token in tokens:
            kind, _, value = token.partition("_")
            if kind == "Bar":
                bar, pos, current = bar + 1, 0, None
            elif kind == "TimeShift":
                pos, current = pos + _str_to_ticks(value), None
            elif kind in PITCH_TYPES:
                current = [start_of(max(bar, 0)) + pos, default_duration, int(value), DEFAULT_VELOCITY]
                notes.append(current)
            elif current is not None and kind == "MicroTiming":
                current[0] += int(value)
            elif current is not None and kind == "Velocity":
                current[3] = int(value)
            elif current is not None and kind == "Duration":
                current[1] = _str_to_ticks(value)
        return [tuple(n) for n in notes]

    def _tokens_to_score(self, tokens, programs=None) -> Score:
        # Replaces PerTok's, which reads the upstream bar semantics: decodes 4/4 bars
        # (the transformers tokenizer passes the real meter through ``tokens_to_notes``).
        seqs = [tokens] if isinstance(tokens, TokSequence) else tokens
        score = Score(self.tpq)
        for i, seq in enumerate(seqs):
            program, is_drum = programs[i] if programs else (0, False)
            track = Track(program=program, is_drum=is_drum)
            for onset, dur, pitch, vel in self.tokens_to_notes(seq.tokens, 4 * self.tpq, self.tpq // 2):
                track.notes.append(Note(onset, dur, pitch, vel))
            score.tracks.append(track)
        return score


def bar_starts(bar_ticks):
    """A function from a bar index to its start tick: bars of ``bar_ticks`` ticks, or of the
    lengths listed (bars past the list continue with its last length)."""
    if isinstance(bar_ticks, (int, np.integer)):
        length = int(bar_ticks)
        return lambda bar: bar * length
    lengths = [int(t) for t in bar_ticks]
    if not lengths:
        raise ValueError("bar_ticks: an empty list of bar lengths")
    starts = np.concatenate([[0], np.cumsum(lengths)]).tolist()

    def start_of(bar: int) -> int:
        if bar < len(lengths):
            return starts[bar]
        return starts[-1] + (bar - len(lengths)) * lengths[-1]

    return start_of


DEFAULT_VELOCITY = 100

__all__ = ["CadenzaPerTok", "DEFAULT_VELOCITY", "bar_starts"]
