"""Grammar-constrained generation for the composer.

``PerTokGrammarLogitsProcessor`` plugs the tokenizer's grammar
(:class:`~cadenza_hf.grammar.PerTokGrammar`) into ``model.generate(logits_processor=...)``:
at every step each row may only pick tokens that keep it valid composition tokens of its
track kind (pitched notes with durations, or drum notes without), on the union grid,
inside the bar, with exactly the requested number of bars and then EOS, all within the
token budget. Every sequence it lets through decodes and passes ``grammar_errors == 0``.
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor

from ..tokenization.grammar import Kind


class PerTokGrammarLogitsProcessor(LogitsProcessor):
    """Mask logits so generated composition tokens always satisfy the PerTok grammar.

    Args:
        tokenizer: the :class:`~cadenza_hf.PerTokTokenizer` whose grammar to enforce.
        bars (`int` or list): bars each sequence must have.
        drums (`bool` or list): drum notes (no durations) instead of pitched notes.
        time_signature (tuple or list of tuples): meter of each sequence (default 4/4).
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

    Create a new processor for every ``generate`` call: it keeps per-row state.
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
        self.mono_rows: list[bool] = []
        self.states: list | None = None
        self.consumed = 0

    def _per_row(self, value, batch: int) -> list:
        if isinstance(value, list):
            if len(value) != batch:
                raise ValueError(f"got {len(value)} per-row settings for a batch of {batch}")
            return value
        return [value] * batch

    def _init_states(self, batch: int) -> None:
        bars = self._per_row(self.bars, batch)
        drums = self._per_row(self.drums, batch)
        meters = self.time_signature if isinstance(self.time_signature, list) else [self.time_signature] * batch
        self.mono_rows = self._per_row(self.monophonic, batch)
        self.states = [
            self.grammar.new_state(
                bars=b,
                bar_ticks=self.tokenizer.bar_ticks(ts),
                mode=self.mode,
                track=Kind.DRUM if d else Kind.PITCH,
                min_notes=self.min_notes,
            )
            for b, d, ts in zip(bars, drums, meters)
        ]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        batch, length = input_ids.shape
        if self.states is None:
            self._init_states(batch)
        rows = input_ids[:, self.consumed :].tolist()
        for state, new in zip(self.states, rows):
            for token in new:
                self.grammar.step(state, token)
        self.consumed = length
        remaining = self.max_length - length
        allowed = torch.zeros_like(scores, dtype=torch.bool)
        pitch_ids = self.grammar.ids_of[Kind.PITCH]
        for row, state in enumerate(self.states):
            mask = self.grammar.allowed_mask(state, remaining=remaining)
            if self.mono_rows[row] and state.last_pitch >= 0 and not state.expect:
                mask[pitch_ids] = False  # a note is already at this onset: move on
            allowed[row, : mask.shape[0]] = torch.from_numpy(mask)
        return scores.masked_fill(~allowed, float("-inf"))


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


__all__ = ["KindFirstLogitsProcessor", "PerTokGrammarLogitsProcessor"]
