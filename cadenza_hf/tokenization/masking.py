"""Masking an idea's composition tokens: the input side of the denoising composer.

A composer with idea attention (``CadenzaComposerConfig.idea_attention``) is trained to
write a whole idea back from a damaged copy, and varies an idea by reading a copy damaged
by as much as the user asks (the variation strength). The damage is the same in both:

- each token other than BOS, EOS and Bar is masked with probability ``ratio``, in place
  (one MASK per token), so the copy keeps the idea's length and every kept token sits
  where it sat: rewriting the idea is copying at offset 0 plus filling the masks, which a
  small decoder learns in a short CPU training;
- at ``ratio == 1`` each non-empty bar collapses to ``Bar MASK`` (span masking, as in
  BART's text infilling): nothing of the idea is left but its bar count, meter and which
  bars rest, so the composer writes a free idea;
- Bar tokens always stay;
- bars listed in ``keep_bars`` are never masked (locked bars).

Pure Python on lists of ids, seeded by the caller's ``random.Random``: no torch here.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence


def mask_idea(
    ids: Sequence[int],
    ratio: float,
    rng: random.Random,
    *,
    bar_id: int,
    mask_id: int,
    special_ids: Iterable[int] = (),
    keep_bars: Iterable[int] = (),
) -> list[int]:
    """``ids`` with a ``ratio`` share of its tokens masked (in place; collapsed per bar at 1; see the module docstring).

    Args:
        ids: composition ids (BOS ... EOS); bars are counted from 0 at the first Bar token.
        ratio: probability in [0, 1] that a maskable token is masked.
        rng: source of randomness (``random.Random(seed)`` for a reproducible copy).
        bar_id, mask_id: the tokenizer's ``Bar_None`` and MASK ids.
        special_ids: ids never masked besides Bar (BOS, EOS, PAD).
        keep_bars: 0-based bars whose tokens are never masked.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must be in [0, 1], got {ratio!r}")
    keep = set(keep_bars)
    fixed = set(special_ids) | {bar_id}
    out: list[int] = []
    bar = -1
    for token in ids:
        if token == bar_id:
            bar += 1
        masked = token not in fixed and bar not in keep and (ratio >= 1.0 or rng.random() < ratio)
        if not masked:
            out.append(token)
        elif ratio < 1.0 or not out or out[-1] != mask_id:
            out.append(mask_id)
    return out


def bar_spans(ids: Sequence[int], bar_id: int) -> list[list[int]]:
    """The tokens of each bar (Bar token first), in order; tokens before the first Bar and the EOS are left out."""
    bars: list[list[int]] = []
    for token in ids:
        if token == bar_id:
            bars.append([token])
        elif bars:
            bars[-1].append(token)
    return bars


__all__ = ["bar_spans", "mask_idea"]
