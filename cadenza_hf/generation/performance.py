"""Humanising a quantized score with a performer (paper §3.2).

The performer reads PerTok ids whose Velocity and MicroTiming tokens are all MASK and
predicts every slot in one bidirectional pass; the tokenizer then merges the
predictions back so that pitch, grid position, duration and bars come from the source
untouched. Tempo, meter, program and drum flag come from the source's meta.
"""

from __future__ import annotations

import torch

from ..tokenization.dynamics import bar_indices, token_levels
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
    order: str | None = None,
    keep: tuple[str, ...] | list = (),
) -> list[list[int]]:
    """Predict velocity and microtiming for each id sequence; return full PerTok ids.

    Sequences may be full ids (their performance tokens are ignored and re-predicted),
    performance-masked ids, or composition-only ids (slots are inserted first).
    ``point_estimate`` (``"argmax"`` or ``"median"``) is what ``temperature == 0`` picks;
    see ``CadenzaPerformerForMaskedLM.fill_performance``. ``steps`` > 1 decodes by
    iterative unmasking in ``order`` (``"confidence"``, ``"sequence"`` or ``"interleaved"``; default the
    performer's ``config.unmask_order``); 1 is the
    paper's one-shot fill of a 100%-masked input. ``keep`` names the families
    (``"velocity"``, ``"microtiming"``) whose tokens in full input ids are kept as the
    user played them (only the other slots are predicted, reading the kept ones).
    """
    unknown = set(keep) - set(PERFORMANCE_FAMILIES)
    if unknown:
        raise ValueError(f"keep holds {sorted(unknown)}; choose among {PERFORMANCE_FAMILIES}")
    out: list[list[int]] = []
    for start in range(0, len(sequences), batch_size):
        chunk = [_with_slots(tokenizer, s, keep) for s in sequences[start : start + batch_size]]
        out.extend(
            _fill_batch(performer, tokenizer, chunk, temperature, top_p, generator, point_estimate, steps, order)
        )
    return out


PERFORMANCE_FAMILIES = ("velocity", "microtiming")


def _with_slots(tokenizer, ids, keep=()) -> list[int]:
    ids = list(ids.tolist() if hasattr(ids, "tolist") else ids)
    masked = tokenizer.mask_performance(ids)
    if tokenizer.mask_token_id not in masked:
        return tokenizer.add_performance_slots(masked)
    if keep:
        kept = {f: set(getattr(tokenizer, f"{f}_ids")) for f in keep}
        masked = [i if any(i in family for family in kept.values()) else m for i, m in zip(ids, masked)]
    return masked


def expressive_families(tokenizer, ids) -> tuple[str, ...]:
    """Which performance families full ``ids`` play expressively: ``"velocity"`` unless every
    note has one velocity, ``"microtiming"`` unless every note sits on the grid."""
    ids = list(ids.tolist() if hasattr(ids, "tolist") else ids)
    velocities = {i for i in ids if i in set(tokenizer.velocity_ids)}
    zero = tokenizer.microtiming_ids[tokenizer.microtiming_tick_values.index(0)] if tokenizer.microtiming_ids else None
    offsets = {i for i in ids if i in set(tokenizer.microtiming_ids)}
    out = []
    if len(velocities) > 1:
        out.append("velocity")
    if offsets - {zero}:
        out.append("microtiming")
    return tuple(out)


def check_humanize(amount) -> float:
    """``amount`` as a float in [0, 1]; ValueError naming the value otherwise (NaN, bool, text included)."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0.0 <= float(amount) <= 1.0:
        raise ValueError(f"humanize must be a number in [0, 1], got {amount!r}")
    return float(amount)


def blend_performance(tokenizer, original_ids, performed_ids, amount: float) -> list[int]:
    """Mix two performances of the same notes: each velocity and microtiming becomes
    ``(1 - amount) * original + amount * performed``, snapped to the nearest token.

    ``amount`` 0 keeps ``original_ids``, 1 gives ``performed_ids`` (a producer's
    "humanize" knob). Both must be full ids with their slots at the same positions.
    """
    amount = check_humanize(amount)
    original, performed = list(original_ids), list(performed_ids)
    if len(original) != len(performed):
        raise ValueError(f"the two performances differ in length ({len(original)} vs {len(performed)} ids)")
    vocab = tokenizer.ids_to_tokens
    families = []
    for ids in (tokenizer.velocity_ids, tokenizer.microtiming_ids):
        values = [int(vocab[i].rsplit("_", 1)[1]) for i in ids]
        families.append((dict(zip(ids, values)), ids, values))
    out = list(performed)
    for k, (a, b) in enumerate(zip(original, performed)):
        for value_of, ids, values in families:
            if a in value_of and b in value_of:
                target = (1 - amount) * value_of[a] + amount * value_of[b]
                out[k] = ids[min(range(len(values)), key=lambda n: abs(values[n] - target))]
    return out


@torch.no_grad()
def _fill_batch(
    performer, tokenizer, chunk, temperature, top_p, generator, point_estimate, steps=1, order=None
) -> list[list[int]]:
    device = performer.device
    width = max(len(s) for s in chunk)
    ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
    attention = torch.zeros_like(ids)
    vel = torch.zeros_like(ids, dtype=torch.bool)
    micro = torch.zeros_like(vel)
    levels = getattr(performer.config, "dynamics_levels", 0)
    bars = torch.full_like(ids, -1)  # -1 on padding
    kept_levels = torch.zeros_like(ids)
    for row, seq in enumerate(chunk):
        ids[row, : len(seq)] = torch.tensor(seq)
        attention[row, : len(seq)] = 1
        if levels:
            bars[row, : len(seq)] = torch.tensor(bar_indices(seq, tokenizer.bar_token_id))
            width = performer.config.dynamics_level_width
            kept_levels[row, : len(seq)] = torch.tensor(
                token_levels(seq, tokenizer.bar_token_id, tokenizer.velocity_values, levels, width)
            )
        v, m = tokenizer.performance_slots(seq)
        open_slot = torch.tensor(seq) == tokenizer.mask_token_id  # kept performance tokens are read, not re-predicted
        vel[row, : len(seq)] = torch.tensor(v) & open_slot
        micro[row, : len(seq)] = torch.tensor(m) & open_slot
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
        level_ids=_level_ids(performer, bars.to(device), kept_levels.to(device), temperature, generator),
    ).cpu()
    return [tokenizer.merge_performance(seq, filled[row, : len(seq)].tolist()) for row, seq in enumerate(chunk)]


def _level_ids(performer, bars, kept_levels, temperature, generator):
    """Per-token dynamics levels for a performer with ``config.dynamics_levels`` (None otherwise): a row whose
    velocities are kept as the user played them keeps their levels; the others draw theirs (``sample_level_ids``)."""
    if not getattr(performer.config, "dynamics_levels", 0):
        return None
    draw = ~kept_levels.bool().any(1)  # (B,) rows without velocities of their own
    if not draw.any() or not performer.config.dynamics_start_probs:
        return kept_levels
    sampled = performer.sample_level_ids(bars, temperature, generator)
    return torch.where(draw[:, None], sampled, kept_levels)


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


__all__ = [
    "PERFORMANCE_FAMILIES",
    "blend_performance",
    "check_humanize",
    "expressive_families",
    "fill_performance_ids",
    "perform",
]
