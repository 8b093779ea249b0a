"""Grammar-constrained generation for the composer.

``PerTokGrammarLogitsProcessor`` plugs the tokenizer's grammar
(:class:`~cadenza_hf.grammar.PerTokGrammar`) into ``model.generate(logits_processor=...)``:
at every step each row may only pick tokens that keep it valid composition tokens of its
track kind (pitched notes with durations, or drum notes without), on the union grid,
inside the bar, with exactly the requested number of bars and then EOS, all within the
token budget. Every sequence it lets through decodes and passes ``grammar_errors == 0``.
"""

from __future__ import annotations

import dataclasses

import torch
from transformers import LogitsProcessor

from ..tokenization.grammar import Kind


class PerTokGrammarLogitsProcessor(LogitsProcessor):
    """Mask logits so generated composition tokens always satisfy the PerTok grammar.

    Args:
        tokenizer: the :class:`~cadenza_hf.PerTokTokenizer` whose grammar to enforce.
        bars (`int` or list): bars each sequence must have.
        drums (`bool` or list): drum notes (no durations) instead of pitched notes.
        time_signature (tuple or list): meter of every sequence (default 4/4): one meter
            ``(num, den)``, or a tuple of per-bar meters (``((4, 4), (3, 4), ...)``, a window
            across meter changes: each bar's positions are kept inside its own length); a list
            gives one such setting per row.
        max_length (`int`): total length (prompt included) generation may reach; choices
            that could not close every bar and write EOS within it are masked.
        mode (`str`): ``"composition"`` (composer output) or ``"full"``.
        monophonic (`bool` or list): at most one note per onset (a melody): once a note
            is written at a position, the next token must move on (TimeShift, Bar or
            EOS). The composer has no kind conditioning; this is how ``kind="melody"``
            is honoured. Durations are not clipped, so a long note may still sound
            under the next one (legato), as in a sung or played melody.
        min_notes (`int`, defaults to 1): EOS is masked until a row has written this
            many notes, so no output is a run of empty bars (which the bare grammar
            allows, and which an undertrained composer did produce).

    Create a new processor for every ``generate`` call. Each row's grammar state is looked
    up by the row's own prefix (and advanced from its parent prefix by one token), never
    by row index: beam search reorders and duplicates rows between steps, and a state
    kept per index would then belong to another beam's prefix.
    """

    def __init__(
        self,
        tokenizer,
        bars=4,
        drums=False,
        time_signature=(4, 4),
        max_length=1024,
        mode="composition",
        monophonic=False,
        min_notes=1,
    ):
        self.grammar = tokenizer.grammar
        self.tokenizer = tokenizer
        self.bars, self.drums, self.time_signature = bars, drums, time_signature
        self.max_length = max_length
        self.mode = mode
        self.monophonic = monophonic
        self.min_notes = min_notes
        self._states: dict[tuple[int, ...], object] = {}  # prefix -> grammar state after it

    def _row_setting(self, value, row: int, rows: int):
        """A per-row setting (list over the batch, or one value); rows are batch * beams, beams contiguous."""
        if isinstance(value, list):
            if rows % len(value):
                raise ValueError(f"got {len(value)} per-row settings for {rows} rows")
            return value[row // (rows // len(value))]
        return value

    def _new_state(self, row: int, rows: int):
        meter = self.time_signature if isinstance(self.time_signature, tuple) else None
        meter = meter or self._row_setting(self.time_signature, row, rows)
        return self.grammar.new_state(
            bars=self._row_setting(self.bars, row, rows),
            bar_ticks=self.tokenizer.bar_ticks(tuple(meter)),
            mode=self.mode,
            track=Kind.DRUM if self._row_setting(self.drums, row, rows) else Kind.PITCH,
            min_notes=self.min_notes,
        )

    def _state_of(self, prefix: tuple[int, ...], row: int, rows: int, previous: dict):
        parent = previous.get(prefix[:-1])
        if parent is not None:
            state = dataclasses.replace(parent, expect=list(parent.expect))
            self.grammar.step(state, prefix[-1])
            return state
        state = self._new_state(row, rows)  # first step, or a prefix never seen: replay it
        for token in prefix:
            self.grammar.step(state, token)
        return state

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        rows, length = input_ids.shape
        previous, self._states = self._states, {}
        remaining = self.max_length - length
        allowed = torch.zeros_like(scores, dtype=torch.bool)
        pitch_ids = self.grammar.ids_of[Kind.PITCH]
        for row, prefix in enumerate(map(tuple, input_ids.tolist())):
            state = self._states.get(prefix) or self._state_of(prefix, row, rows, previous)
            self._states[prefix] = state
            mask = self.grammar.allowed_mask(state, remaining=remaining)
            if self._row_setting(self.monophonic, row, rows) and state.last_pitch >= 0 and not state.expect:
                mask[pitch_ids] = False  # a note is already at this onset: move on
            allowed[row, : mask.shape[0]] = torch.from_numpy(mask)
        return scores.masked_fill(~allowed, float("-inf"))


class KeepBarsLogitsProcessor(LogitsProcessor):
    """Force chosen bars of an idea to come out exactly as they are (locked bars).

    Each row's position is read from its own prefix: the number of Bar tokens so far says
    which bar it is writing, the tokens since the last Bar how far into it. Inside a kept
    bar the next token of that bar is forced; at its end, the next Bar (or EOS after the
    last bar). Other bars are left to the model and the grammar processor, which should
    come before this one.

    Args:
        bar_tokens: the idea's tokens bar by bar, each list starting with its Bar token
            (:func:`~cadenza_hf.tokenization.masking.bar_spans`).
        keep_bars: 0-based indices of the bars to keep.
        bar_token_id, eos_token_id: the tokenizer's ids.
    """

    def __init__(self, bar_tokens: list[list[int]], keep_bars, bar_token_id: int, eos_token_id: int):
        self.bar_tokens = [list(b) for b in bar_tokens]
        self.keep = set(keep_bars)
        bad = sorted(k for k in self.keep if not 0 <= k < len(self.bar_tokens))
        if bad:
            raise ValueError(f"keep_bars {bad} outside the idea's {len(self.bar_tokens)} bars (0-based)")
        self.bar_id, self.eos_id = bar_token_id, eos_token_id

    def forced_token(self, prefix: list[int]) -> int | None:
        """The token a row with this prefix must write next, or None if it is free."""
        bars_seen = [i for i, t in enumerate(prefix) if t == self.bar_id]
        if not bars_seen:
            return self.bar_id if 0 in self.keep else None
        bar, start = len(bars_seen) - 1, bars_seen[-1]
        if bar not in self.keep:
            return None
        done = len(prefix) - start
        tokens = self.bar_tokens[bar]
        if done < len(tokens):
            return tokens[done]
        return self.bar_id if bar + 1 < len(self.bar_tokens) else self.eos_id

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for row, prefix in enumerate(input_ids.tolist()):
            token = self.forced_token(prefix)
            if token is not None:
                keep = scores[row, token].clone()
                scores[row] = float("-inf")
                scores[row, token] = keep if torch.isfinite(keep) else 0.0
        return scores


class KindFirstLogitsProcessor(LogitsProcessor):
    """Greedy decoding over a two-level choice: first the token kind, then the token.

    Plain greedy takes the single most likely token. In PerTok the probability of "a
    note here" is spread over dozens of Pitch tokens while "end this bar" is one Bar
    token, so plain greedy picks Bar at 15% over a note at 80% spread thin, opens ideas
    with empty bars and drifts from there. This processor sums the (already grammar-
    masked) probability of each kind (Bar, TimeShift, Pitch, Duration, EOS, ...) and
    keeps only the tokens of the most likely kind; the argmax then picks within it.
    Still deterministic; meant for ``do_sample=False`` (it would distort sampling).
    Place it after the grammar processor.

    Args:
        tokenizer: the :class:`~cadenza_hf.PerTokTokenizer` whose token kinds to use.
    """

    def __init__(self, tokenizer):
        self.kinds = torch.as_tensor(tokenizer.grammar.kinds, dtype=torch.long)
        self.num_kinds = len(Kind)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        kinds = self.kinds.to(scores.device)
        if kinds.shape[0] != scores.shape[-1]:  # a model head wider than the vocabulary: extra ids are "other"
            kinds = torch.cat([kinds, kinds.new_full((scores.shape[-1] - kinds.shape[0],), int(Kind.OTHER))])
        probs = scores.float().softmax(-1)  # (B, vocab); grammar-masked ids are -inf, so 0
        mass = probs.new_zeros(scores.shape[0], self.num_kinds).index_add_(1, kinds, probs)  # (B, kinds)
        keep = kinds[None, :] == mass.argmax(-1, keepdim=True)  # (B, vocab)
        return scores.masked_fill(~keep, float("-inf"))


class NotesInEveryBarLogitsProcessor(LogitsProcessor):
    """Hold back Bar and EOS while the bar being written has no note: new ideas without silent bars.

    Used when writing new ideas (nothing to vary, so no bar is meant to rest). Run it after the grammar
    processor: when the grammar leaves nothing but Bar/EOS (the bar's time is used up), the row is left as it
    is, so the output stays valid; the bar is then empty, which the measurement in the model card counts.

    Args:
        tokenizer: the :class:`~cadenza_hf.PerTokTokenizer` (its grammar says which ids are notes).
    """

    def __init__(self, tokenizer):
        grammar = tokenizer.grammar
        self.note_ids = set(grammar.ids_of[Kind.PITCH]) | set(grammar.ids_of[Kind.DRUM])
        self.bar_ids = set(grammar.ids_of[Kind.BAR])
        self.stop_ids = torch.tensor(list(grammar.ids_of[Kind.BAR]) + list(grammar.ids_of[Kind.EOS]))

    def _bar_has_note(self, prefix: list[int]) -> bool:
        for token in reversed(prefix):
            if token in self.note_ids:
                return True
            if token in self.bar_ids:
                return False
        return True  # before the first Bar: nothing to hold back

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for row, prefix in enumerate(input_ids.tolist()):
            if self._bar_has_note(prefix):
                continue
            held = scores[row].clone()
            held[self.stop_ids.to(scores.device)] = float("-inf")
            if torch.isfinite(held).any():
                scores[row] = held
        return scores


__all__ = [
    "KeepBarsLogitsProcessor",
    "KindFirstLogitsProcessor",
    "NotesInEveryBarLogitsProcessor",
    "PerTokGrammarLogitsProcessor",
]
