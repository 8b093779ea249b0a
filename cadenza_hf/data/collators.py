"""Batch collators with Hugging Face names: ``input_ids``, ``attention_mask``, ``labels``.

``labels`` hold -100 wherever no loss applies (padding; for the performer, every
position that is not a masked performance slot).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from ..tokenization.dynamics import UNKNOWN_LEVEL, token_levels
from ..tokenization.masking import mask_idea


def _pad(rows: list[list[int]], value: int, multiple: int | None, side: str = "right"):
    import torch

    length = max(len(r) for r in rows)
    if multiple:
        length = -(-length // multiple) * multiple
    out = torch.full((len(rows), length), value, dtype=torch.long)
    for i, r in enumerate(rows):
        if side == "right":
            out[i, : len(r)] = torch.as_tensor(r, dtype=torch.long)
        else:
            out[i, length - len(r) :] = torch.as_tensor(r, dtype=torch.long)
    return out


@dataclass
class ComposerCollator:
    """Composition-only sequences for the composer VAE.

    The VAE reconstructs its input, so ``input_ids`` feed both encoder and decoder and
    ``labels`` are the same ids (the model shifts them) with -100 on padding.

    Args:
        tokenizer: the :class:`~cadenza_hf.PerTokTokenizer`.
        column: dataset column holding the ids; ``"composition_ids"`` by default, or
            ``"input_ids"`` to derive them from full ids on the fly.
        pad_to_multiple_of: pad lengths up to a multiple (helps tensor cores).
    """

    tokenizer: object
    column: str = "composition_ids"
    pad_to_multiple_of: int | None = None

    def __call__(self, features: list[dict]) -> dict:
        rows = [list(f[self.column]) for f in features]
        if self.column != "composition_ids":
            rows = [self.tokenizer.composition_ids(r) for r in rows]
        ids = _pad(rows, self.tokenizer.pad_token_id, self.pad_to_multiple_of)
        mask = _pad([[1] * len(r) for r in rows], 0, self.pad_to_multiple_of)
        labels = ids.masked_fill(mask == 0, -100)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


@dataclass
class DenoisingComposerCollator:
    """Batches for a composer with idea attention: the decoder writes the idea, the encoder reads it damaged.

    ``encoder_input_ids`` is each idea with a random share ``r`` of its tokens masked in place
    (:func:`~cadenza_hf.tokenization.masking.mask_idea`); ``input_ids``/``labels`` are the
    idea itself. ``r`` is drawn per idea: 1 with probability ``free_share`` (a blank
    copy: learn to write ideas from nothing but the bar count), else uniform in [0, 1],
    so every variation strength is trained.

    Args:
        tokenizer: the :class:`~cadenza_hf.PerTokTokenizer`.
        free_share: share of ideas given as a blank copy (``r = 1``).
        seed: seed of the collator's own random generator.
    """

    tokenizer: object
    column: str = "composition_ids"
    pad_to_multiple_of: int | None = None
    free_share: float = 0.1
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self):
        self._rng = random.Random(self.seed)
        self._base = ComposerCollator(self.tokenizer, self.column, self.pad_to_multiple_of)

    def __call__(self, features: list[dict]) -> dict:
        batch = self._base(features)
        tok = self.tokenizer
        rows = [list(f[self.column]) for f in features]
        if self.column != "composition_ids":
            rows = [tok.composition_ids(r) for r in rows]
        specials = (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id)
        damaged = []
        for row in rows:
            ratio = 1.0 if self._rng.random() < self.free_share else self._rng.random()
            damaged.append(
                mask_idea(
                    row, ratio, self._rng, bar_id=tok.bar_token_id, mask_id=tok.mask_token_id, special_ids=specials
                )
            )
        batch["encoder_input_ids"] = _pad(damaged, tok.pad_token_id, self.pad_to_multiple_of)
        batch["encoder_attention_mask"] = _pad([[1] * len(r) for r in damaged], 0, self.pad_to_multiple_of)
        return batch


@dataclass
class PerformerCollator:
    """Full PerTok ids with a share of the performance tokens masked, for the performer.

    ``input_ids`` have Velocity and MicroTiming tokens replaced by MASK; ``labels`` hold
    the true token at those positions and -100 everywhere else. By default every
    performance token is masked (the paper's 100%). With ``min_mask_ratio < 1`` each
    sequence draws its own ratio ``r``: 1 with probability ``full_mask_share``, else
    uniform in ``[min_mask_ratio, 1]``, and a random ``ceil(r * slots)`` of its slots are
    masked (at least one); the others show their true value. This trains the model to
    read performance tokens already chosen, which iterative decoding
    (``fill_performance(steps=...)``) relies on.

    Args:
        tokenizer: the :class:`~cadenza_hf.PerTokTokenizer`.
        min_mask_ratio: lowest share of slots masked (1.0: always all of them).
        full_mask_share: share of sequences masked at 100% when ``min_mask_ratio < 1``.
        seed: seed of the collator's own random generator.
        dynamics_levels: with > 0, also ``level_ids``: per token 1 + its bar's dynamics level read off the
            real velocities (``cadenza_hf.tokenization.dynamics``), for a performer with
            ``config.dynamics_levels``; ``dynamics_level_width`` velocity units per level.
        dynamics_dropout: share of sequences whose levels are all 0 (unknown), so the performer still
            works without them.
    """

    tokenizer: object
    column: str = "input_ids"
    pad_to_multiple_of: int | None = None
    min_mask_ratio: float = 1.0
    full_mask_share: float = 0.0
    seed: int = 0
    dynamics_levels: int = 0
    dynamics_level_width: int = 8
    dynamics_dropout: float = 0.1
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self):
        if not 0.0 <= self.min_mask_ratio <= 1.0 or not 0.0 <= self.full_mask_share <= 1.0:
            raise ValueError(
                f"min_mask_ratio and full_mask_share must lie in [0, 1], "
                f"got {self.min_mask_ratio} and {self.full_mask_share}"
            )
        self._rng = random.Random(self.seed)

    def _partial(self, full: list[int], masked: list[int]) -> list[int]:
        """Unmask a random share of the masked slots of one sequence (per the ratio drawn)."""
        if self.min_mask_ratio >= 1.0 or self._rng.random() < self.full_mask_share:
            return masked
        slots = [k for k, (t, m) in enumerate(zip(full, masked)) if t != m]
        if not slots:
            return masked
        ratio = self._rng.uniform(self.min_mask_ratio, 1.0)
        keep_masked = max(1, math.ceil(ratio * len(slots)))
        out = list(masked)
        for k in self._rng.sample(slots, len(slots) - keep_masked):
            out[k] = full[k]
        return out

    def __call__(self, features: list[dict]) -> dict:
        full = [list(f[self.column]) for f in features]
        masked = [self._partial(r, self.tokenizer.mask_performance(r)) for r in full]
        mask_id = self.tokenizer.mask_token_id
        targets = [[t if m == mask_id else -100 for t, m in zip(r, mr)] for r, mr in zip(full, masked)]
        batch = {
            "input_ids": _pad(masked, self.tokenizer.pad_token_id, self.pad_to_multiple_of),
            "attention_mask": _pad([[1] * len(r) for r in full], 0, self.pad_to_multiple_of),
            "labels": _pad(targets, -100, self.pad_to_multiple_of),
        }
        if self.dynamics_levels:
            batch["level_ids"] = _pad([self._levels(r) for r in full], UNKNOWN_LEVEL, self.pad_to_multiple_of)
        return batch

    def _levels(self, full: list[int]) -> list[int]:
        if self._rng.random() < self.dynamics_dropout:
            return [UNKNOWN_LEVEL] * len(full)
        tok = self.tokenizer
        return token_levels(full, tok.bar_token_id, tok.velocity_values, self.dynamics_levels, self.dynamics_level_width)


__all__ = ["ComposerCollator", "DenoisingComposerCollator", "PerformerCollator"]
