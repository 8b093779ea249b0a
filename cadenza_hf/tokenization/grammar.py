"""The PerTok token grammar: a validity check and the allowed-next-token masks.

miditok's ``PerTok`` reports 0 errors for any sequence and has an empty token-type
graph, so nothing upstream can tell a valid sequence from garbage. This module defines
the grammar of one single-track excerpt as the tokenizer writes it::

    [BOS] Bar Body (Bar Body)* [EOS] PAD*
    Body = (TimeShift+ Note+ | Note+)*        (notes at one position: ascending pitch)
    Note = Pitch [MicroTiming] [Velocity] [Duration]     pitched track
         | PitchDrum [MicroTiming] [Velocity]            drum track (no durations)

with these rules, each broken rule counting one error:

- every bar opens with ``Bar``; with ``bars`` given, exactly that many bars;
- a note's position (the sum of the shifts since its bar line) lies inside the bar and
  on the tokenizer's union grid (bars may differ in length: a window across meter
  changes checks each bar against its own length); several shifts in a row are allowed only after the
  largest shift (that is how long gaps are written); a shift must be followed by a note;
- a sequence holds pitched notes or drum notes, never both; pitches at one position do
  not descend;
- performance slots (MicroTiming, Velocity, or MASK standing for them) are present for
  every note or for none: a sequence is in ``full``, ``masked`` or ``composition`` mode,
  fixed by its first note;
- BOS only first, nothing but PAD after EOS, no slot token outside a note.

The same state machine drives :class:`~cadenza_hf.generation.PerTokGrammarLogitsProcessor`
through :meth:`PerTokGrammar.allowed_mask`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np


class Kind(IntEnum):
    """Token kinds of the PerTok vocabulary."""

    PAD = 0
    BOS = 1
    EOS = 2
    MASK = 3
    BAR = 4
    SHIFT = 5
    PITCH = 6
    DRUM = 7
    MICRO = 8
    VEL = 9
    DUR = 10
    OTHER = 11


_PREFIX_KIND = {
    "PAD": Kind.PAD,
    "BOS": Kind.BOS,
    "EOS": Kind.EOS,
    "MASK": Kind.MASK,
    "Bar": Kind.BAR,
    "TimeShift": Kind.SHIFT,
    "Pitch": Kind.PITCH,
    "PitchDrum": Kind.DRUM,
    "MicroTiming": Kind.MICRO,
    "Velocity": Kind.VEL,
    "Duration": Kind.DUR,
}


def token_kind(token: str) -> Kind:
    return _PREFIX_KIND.get(token.partition("_")[0], Kind.OTHER)


def _value_ticks(value: str) -> int:
    beat, sub, tpq = (int(x) for x in value.split("."))
    return beat * tpq + sub


@dataclass
class GrammarState:
    """Where a sequence stands in the grammar (one per sequence being checked/generated)."""

    bars: int | None = None
    bar_ticks: int = 1920  # length of the bar being read
    bar_lengths: tuple = ()  # each bar's length when they differ (bars past it keep the last); () = all bar_ticks
    mode: str | None = None  # "full" | "masked" | "composition"; fixed by the first note
    track: Kind | None = None  # Kind.PITCH or Kind.DRUM
    started: bool = False
    done: bool = False
    n_bars: int = 0
    pos: int = 0
    in_shift: bool = False  # the last token was a TimeShift
    shift_chain_open: bool = False  # ...and it was the largest one (another may follow)
    last_pitch: int = -1
    expect: list = field(default_factory=list)  # performance/duration slots still owed
    errors: int = 0
    notes: int = 0  # notes written so far
    min_notes: int = 0  # generation only: EOS is masked until this many notes are written


class PerTokGrammar:
    """Grammar of PerTok excerpts over a fixed vocabulary (token strings in id order).

    Args:
        tokens: the vocabulary, ``tokens[i]`` is the string of id ``i``.
        grid_positions: callable mapping a bar length in ticks to the sorted grid onsets.
        use_microtiming / use_velocities / use_durations: which slots a full note has.
    """

    def __init__(self, tokens, grid_positions, use_microtiming=True, use_velocities=True, use_durations=True):
        self.kinds = np.array([token_kind(t) for t in tokens], dtype=np.int8)
        self.shift_ticks = np.zeros(len(tokens), dtype=np.int64)
        self.pitch = np.full(len(tokens), -1, dtype=np.int64)
        for i, tok in enumerate(tokens):
            kind, value = self.kinds[i], tok.partition("_")[2]
            if kind == Kind.SHIFT:
                self.shift_ticks[i] = _value_ticks(value)
            elif kind in (Kind.PITCH, Kind.DRUM):
                self.pitch[i] = int(value)
        self.max_shift = int(self.shift_ticks.max()) if (self.kinds == Kind.SHIFT).any() else 0
        self._grid_positions = grid_positions
        self._grid_sets: dict[int, frozenset] = {}
        self.use_microtiming = use_microtiming
        self.use_velocities = use_velocities
        self.use_durations = use_durations
        self.ids_of = {k: np.flatnonzero(self.kinds == k) for k in Kind}

    # ---- rules ----------------------------------------------------------------------
    def on_grid(self, pos: int, bar_ticks: int) -> bool:
        grid = self._grid_sets.get(bar_ticks)
        if grid is None:
            grid = self._grid_sets[bar_ticks] = frozenset(self._grid_positions(bar_ticks))
        return pos in grid

    def slots(self, track: Kind, mode: str) -> list:
        """The slot kinds that follow a pitch token in ``mode``."""
        out = []
        if mode != "composition":
            perf = Kind.MASK if mode == "masked" else None
            if self.use_microtiming:
                out.append(perf or Kind.MICRO)
            if self.use_velocities:
                out.append(perf or Kind.VEL)
        if track == Kind.PITCH and self.use_durations:
            out.append(Kind.DUR)
        return out

    def new_state(self, bars=None, bar_ticks=1920, mode=None, track=None, min_notes=0) -> GrammarState:
        """A fresh state; ``bar_ticks`` is one bar length or a list of each bar's length."""
        lengths = ()
        if not isinstance(bar_ticks, (int, np.integer)):
            lengths = tuple(int(t) for t in bar_ticks)
            if not lengths:
                raise ValueError("bar_ticks: an empty list of bar lengths")
            bar_ticks = lengths[0]
        return GrammarState(
            bars=bars, bar_ticks=int(bar_ticks), bar_lengths=lengths, mode=mode, track=track, min_notes=min_notes
        )

    def step(self, state: GrammarState, token_id: int) -> int:
        """Advance ``state`` by one token; return the number of errors it adds."""
        before = state.errors
        kind = Kind(self.kinds[token_id]) if 0 <= token_id < len(self.kinds) else Kind.OTHER
        if state.done:
            state.errors += kind != Kind.PAD
            return state.errors - before
        if state.expect and self._fill_slot(state, kind):
            return state.errors - before
        if kind == Kind.BOS:
            state.errors += state.started
        elif kind in (Kind.EOS, Kind.PAD):  # the end; the bar count is checked in finish()
            state.errors += state.in_shift
            state.done = True
        elif kind == Kind.BAR:
            state.errors += state.in_shift
            state.n_bars += 1
            state.errors += state.bars is not None and state.n_bars > state.bars
            if state.bar_lengths:
                state.bar_ticks = state.bar_lengths[min(state.n_bars, len(state.bar_lengths)) - 1]
            state.pos, state.in_shift, state.shift_chain_open, state.last_pitch = 0, False, False, -1
        elif kind == Kind.SHIFT:
            state.errors += state.n_bars == 0 or (state.in_shift and not state.shift_chain_open)
            state.pos += int(self.shift_ticks[token_id])
            state.errors += state.pos >= state.bar_ticks
            state.shift_chain_open = int(self.shift_ticks[token_id]) == self.max_shift
            state.in_shift, state.last_pitch = True, -1
        elif kind in (Kind.PITCH, Kind.DRUM):
            self._note(state, kind, int(self.pitch[token_id]))
        else:  # a slot token (or unknown) outside a note
            state.errors += 1
        state.started = True
        return state.errors - before

    def _fill_slot(self, state: GrammarState, kind: Kind) -> bool:
        """Consume ``kind`` as the next owed slot; False if it is not one (one error)."""
        if state.mode is None:  # first note: its first slot token fixes the mode
            state.mode = {Kind.MICRO: "full", Kind.VEL: "full", Kind.MASK: "masked"}.get(kind, "composition")
            state.expect = self.slots(state.track, state.mode)
            if not state.expect:
                return False
        if kind == state.expect[0]:
            state.expect.pop(0)
            return True
        state.errors += 1
        state.expect = []
        return False

    def _note(self, state: GrammarState, kind: Kind, pitch: int) -> None:
        state.errors += state.n_bars == 0
        if state.track is None:
            state.track = kind
        state.errors += kind != state.track
        state.errors += not (0 <= state.pos < state.bar_ticks and self.on_grid(state.pos, state.bar_ticks))
        state.errors += pitch < state.last_pitch
        state.last_pitch, state.in_shift, state.shift_chain_open = pitch, False, False
        state.notes += 1
        if state.mode is None:
            state.expect = [None]  # resolved by the next token (see _fill_slot)
        else:
            state.expect = self.slots(kind, state.mode)

    def finish(self, state: GrammarState) -> int:
        """Errors owed at the end of a sequence (unfinished note, wrong bar count)."""
        errors = bool(state.expect and state.expect != [None])
        if state.expect == [None]:  # a last note with no slot token after it
            state.mode = state.mode or "composition"
            errors = bool(self.slots(state.track, state.mode))
        errors += state.in_shift and not state.done
        errors += state.n_bars == 0 or (state.bars is not None and state.n_bars != state.bars)
        state.errors += errors
        return errors

    def count_errors(self, ids, bars=None, bar_ticks=1920, require_eos=False) -> int:
        """Number of grammar errors in one sequence of ids (``bar_ticks``: one length, or each bar's)."""
        state = self.new_state(bars=bars, bar_ticks=bar_ticks)
        for token_id in ids:
            self.step(state, int(token_id))
        self.finish(state)
        return state.errors + (require_eos and not state.done)

    # ---- generation -----------------------------------------------------------------
    def allowed_mask(self, state: GrammarState, remaining: int | None = None) -> np.ndarray:
        """Boolean mask over the vocabulary of the tokens that keep ``state`` valid.

        Meant for generation in a fixed mode and track kind (set both on the state).
        With ``remaining`` (tokens left in the budget), only choices that can still
        close every bar, write the notes still owed to ``state.min_notes`` and EOS
        within the budget are allowed. EOS waits for ``state.min_notes`` notes: an
        "idea" of empty bars is valid PerTok but not a useful output.
        """
        mask = np.zeros(len(self.kinds), dtype=bool)
        if state.done:
            mask[self.ids_of[Kind.PAD]] = True
            mask[self.ids_of[Kind.EOS]] = True
            return mask
        if state.expect and state.expect != [None]:
            mask[self.ids_of[state.expect[0]]] = True
            return mask
        if not state.started or state.n_bars == 0:
            mask[self.ids_of[Kind.BAR]] = True
            return mask
        bars_left = (state.bars - state.n_bars) if state.bars is not None else 0
        note_cost = 1 + len(self.slots(state.track, state.mode or "composition"))
        closing = bars_left + 1  # the remaining Bar tokens, then EOS
        owed = note_cost * max(0, state.min_notes - state.notes)  # notes still owed, at their cheapest
        owed_after_note = max(0, owed - note_cost)  # ... once the next note is written
        budget = float("inf") if remaining is None else remaining
        if not (state.in_shift and not state.shift_chain_open) and budget >= 1 + closing:
            if note_cost + 1 + closing + owed_after_note <= budget:
                self._allow_shifts(state, mask)
            if note_cost + closing + owed_after_note <= budget and self.on_grid(state.pos, state.bar_ticks):
                self._allow_pitches(state, mask)
        elif state.in_shift:  # a shift must be followed by a note
            self._allow_pitches(state, mask)
        if not state.in_shift:
            if (bars_left > 0 or state.bars is None) and closing + owed <= budget:
                mask[self.ids_of[Kind.BAR]] = True
            if bars_left == 0 and owed == 0:
                mask[self.ids_of[Kind.EOS]] = True
        return mask

    def _allow_shifts(self, state: GrammarState, mask: np.ndarray) -> None:
        ids = self.ids_of[Kind.SHIFT]
        new_pos = state.pos + self.shift_ticks[ids]
        ok = new_pos < state.bar_ticks
        grid = self._grid_positions(state.bar_ticks)
        on_grid = np.isin(new_pos, grid)
        # the largest shift may land off the grid only if another shift can follow it
        chain = (self.shift_ticks[ids] == self.max_shift) & (new_pos + min(self.shift_ticks[ids]) < state.bar_ticks)
        mask[ids[ok & (on_grid | chain)]] = True

    def _allow_pitches(self, state: GrammarState, mask: np.ndarray) -> None:
        ids = self.ids_of[state.track or Kind.PITCH]
        mask[ids[self.pitch[ids] > state.last_pitch]] = True


__all__ = ["GrammarState", "Kind", "PerTokGrammar", "token_kind"]
