"""Humanising a quantized score with a performer (paper §3.2).

The performer reads PerTok ids whose Velocity and MicroTiming tokens are all MASK and
predicts every slot in one bidirectional pass; the tokenizer then merges the
predictions back so that pitch, grid position, duration and bars come from the source
untouched. Tempo, meter, program and drum flag come from the source's meta.
"""

from __future__ import annotations

import torch

from ..tokenization.excerpt import Excerpt


def fill_performance_ids(
    performer,
    tokenizer,
    sequences,
    temperature: float = 0.0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
    batch_size: int = 32,
    point_estimate: str = "argmax",
    steps: int = 1,
    order: str = "confidence",
) -> list[list[int]]:
    """Predict velocity and microtiming for each id sequence; return full PerTok ids.

    Sequences may be full ids (their performance tokens are ignored and re-predicted),
    performance-masked ids, or composition-only ids (slots are inserted first).
    ``point_estimate`` (``"argmax"`` or ``"median"``) is what ``temperature == 0`` picks;
    see ``CadenzaPerformerForMaskedLM.fill_performance``. ``steps`` > 1 decodes by
    iterative unmasking in ``order`` (``"confidence"`` or ``"sequence"``); 1 is the
    paper's one-shot fill of a 100%-masked input.
    """
    out: list[list[int]] = []
    for start in range(0, len(sequences), batch_size):
        chunk = [_with_slots(tokenizer, s) for s in sequences[start : start + batch_size]]
        out.extend(
            _fill_batch(performer, tokenizer, chunk, temperature, top_p, generator, point_estimate, steps, order)
        )
    return out


def _with_slots(tokenizer, ids) -> list[int]:
    ids = list(ids.tolist() if hasattr(ids, "tolist") else ids)
    masked = tokenizer.mask_performance(ids)
    return masked if tokenizer.mask_token_id in masked else tokenizer.add_performance_slots(masked)


@torch.no_grad()
def _fill_batch(
    performer, tokenizer, chunk, temperature, top_p, generator, point_estimate, steps=1, order="confidence"
) -> list[list[int]]:
    device = performer.device
    width = max(len(s) for s in chunk)
    ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
    attention = torch.zeros_like(ids)
    vel = torch.zeros_like(ids, dtype=torch.bool)
    micro = torch.zeros_like(vel)
    for row, seq in enumerate(chunk):
        ids[row, : len(seq)] = torch.tensor(seq)
        attention[row, : len(seq)] = 1
        v, m = tokenizer.performance_slots(seq)
        vel[row, : len(seq)] = torch.tensor(v)
        micro[row, : len(seq)] = torch.tensor(m)
    filled = performer.fill_performance(
        ids.to(device),
        attention.to(device),
        velocity_positions=vel.to(device),
        microtiming_positions=micro.to(device),
        temperature=temperature,
        top_p=top_p,
        generator=generator,
        point_estimate=point_estimate,
        steps=steps,
        order=order,
    ).cpu()
    return [tokenizer.merge_performance(seq, filled[row, : len(seq)].tolist()) for row, seq in enumerate(chunk)]


def perform(
    performer,
    tokenizer,
    midi,
    reference=None,
    track=None,
    start_bar: int = 0,
    bars: int = 4,
    temperature: float = 0.0,
    seed: int | None = None,
    point_estimate: str = "argmax",
):
    """Turn a quantized score (or ids) into an expressive ``symusic.Score``.

    Args:
        performer: a :class:`~cadenza_hf.CadenzaPerformerForMaskedLM`.
        tokenizer: the :class:`~cadenza_hf.PerTokTokenizer` it was trained with.
        midi: a path, MIDI bytes, ``symusic.Score`` or :class:`Excerpt` (cut with
            ``track``/``start_bar``/``bars``), or a list of PerTok ids.
        reference: meta for decoding ids (ignored for MIDI input, whose own meta is kept).
        temperature: 0 for one deterministic performance, > 0 to sample (seeded by ``seed``).
        point_estimate: what ``temperature == 0`` picks per note: ``"argmax"`` (the most
            likely velocity and offset) or ``"median"`` (the smallest expected absolute error).

    Returns:
        ``(score, ids)``: the expressive score and its full PerTok ids.
    """
    if isinstance(midi, (list, tuple)) or hasattr(midi, "tolist"):
        ids = list(midi.tolist() if hasattr(midi, "tolist") else midi)
    else:
        excerpt = midi if isinstance(midi, Excerpt) else tokenizer.extract_excerpt(midi, track, start_bar, bars)
        ids, reference = tokenizer.encode_excerpt(excerpt), excerpt
    generator = None
    if seed is not None:
        generator = torch.Generator(device=performer.device).manual_seed(seed)
    performer.eval()
    (full,) = fill_performance_ids(
        performer, tokenizer, [ids], temperature=temperature, generator=generator, point_estimate=point_estimate
    )
    return tokenizer.decode_midi(full, reference), full


__all__ = ["fill_performance_ids", "perform"]
