"""Composer-side generation: variations of an idea, ideas from the prior, interpolations.

All three end in :func:`compose_from_latents`, which decodes latents with
``model.generate`` under the grammar processor, so every output is valid composition
tokens with the requested bar count.

Two kinds of composer, one interface:

- **idea attention** (``config.idea_attention``, the shipped default): the decoder reads
  the idea token by token. ``variation_strength`` is the share of the idea's tokens
  masked before it is read (:func:`~cadenza_hf.tokenization.masking.mask_idea`): 0 gives
  the idea back, 1 keeps only its bar count (a free idea in the same meter). Each
  variation reads its own masked copy, so variations differ even when decoded greedily.
- **the paper's VAE** (one latent ``z``): ``variation_strength`` picks the latent (see
  ``CadenzaComposerModel.sample_latent``): 0 is the posterior mean, 0.5 a full posterior
  sample, 1 a sample from the prior.

``keep_bars`` (0-based) locks bars of the idea: they are never masked and are forced
token for token at decoding (:class:`~.logits_process.KeepBarsLogitsProcessor`), with
either kind of composer. Measured effects are in docs/benchmarks.md.

Randomness: one ``seed`` per call, from which each stage gets its own generator: the
masking (``random.Random``), the latent (``torch.Generator``) and the token sampling.
``generate()`` samples from torch's global generator and takes no generator of its own,
so the sampling stage runs inside ``torch.random.fork_rng()``: the caller's random state
is the same after the call as before it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from transformers import LogitsProcessorList

from ..tokenization.masking import bar_spans, mask_idea
from .logits_process import (
    KeepBarsLogitsProcessor,
    KindFirstLogitsProcessor,
    NotesInEveryBarLogitsProcessor,
    PerTokGrammarLogitsProcessor,
)

DEFAULT_VARIATION_STRENGTH = 0.5


@dataclass
class ComposeOptions:
    """How to decode: greedy (``temperature == 0``) or sampled with ``temperature``/``top_p``.

    ``drums`` selects the drum grammar (PitchDrum notes, no durations); ``monophonic``
    allows one note per onset (melodies). ``time_signature`` is one meter, or a tuple of
    per-bar meters for an idea across meter changes (``ExcerptMeta.meter`` gives either). Neither is a model input: the composer has no
    kind conditioning, so the kind is imposed by the grammar processor.
    ``kind_first`` (greedy only): choose the most likely token kind, then the most likely
    token of that kind (:class:`~cadenza_hf.generation.KindFirstLogitsProcessor`);
    ``False`` is plain token-level greedy. Measured effect in docs/benchmarks.md.
    """

    bars: int = 4
    drums: bool = False
    monophonic: bool = False
    time_signature: tuple = (4, 4)
    temperature: float = 1.0
    top_p: float = 0.95
    max_new_tokens: int = 768
    kind_first: bool = True


def _generator(seed: int | None, device) -> torch.Generator | None:
    return None if seed is None else torch.Generator(device=device).manual_seed(seed)


def _mask_rng(seed: int | None) -> random.Random:
    """The masking stage's generator (its own stream, derived from the call's seed)."""
    return random.Random(None if seed is None else f"cadenza-mask-{seed}")


@torch.no_grad()
def encode_masked_ideas(model, tokenizer, composition_ids, copies: int, ratio: float, seed: int | None, keep_bars=()):
    """Encode ``copies`` masked copies of one idea: ``(latents, idea_states, idea_attention_mask)``."""
    specials = (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    rng = _mask_rng(seed)
    rows = [
        mask_idea(
            composition_ids,
            ratio,
            rng,
            bar_id=tokenizer.bar_token_id,
            mask_id=tokenizer.mask_token_id,
            special_ids=specials,
            keep_bars=keep_bars,
        )
        for _ in range(copies)
    ]
    width = max(len(r) for r in rows)
    ids = torch.full((copies, width), tokenizer.pad_token_id, dtype=torch.long, device=model.device)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    posterior, states = model.encode_idea(ids, mask)
    return posterior.mean, states, mask


def blank_idea(tokenizer, bars: int) -> list[int]:
    """An idea with every bar masked (``Bar MASK`` each): what an idea-attention composer writes new ideas from."""
    return [tokenizer.bos_token_id, *([tokenizer.bar_token_id, tokenizer.mask_token_id] * bars), tokenizer.eos_token_id]


@torch.no_grad()
def compose_from_latents(
    model,
    tokenizer,
    latents: torch.Tensor,
    options: ComposeOptions,
    seed: int | None = None,
    streamer=None,
    idea_states: torch.Tensor | None = None,
    idea_attention_mask: torch.Tensor | None = None,
    extra_processors=(),
) -> list[list[int]]:
    """Decode each latent row into composition ids (BOS ... EOS, no padding).

    ``idea_states``/``idea_attention_mask`` (from :func:`encode_masked_ideas`) feed an
    idea-attention composer. ``extra_processors`` run after the grammar (e.g. locked
    bars). ``streamer`` (optional) is handed to ``generate`` (``put`` per step, ``end``
    at the end), e.g. to drive a progress bar.
    """
    device = model.device
    batch = latents.shape[0]
    bos = torch.full((batch, 1), tokenizer.bos_token_id, dtype=torch.long, device=device)
    processor = PerTokGrammarLogitsProcessor(
        tokenizer,
        bars=options.bars,
        drums=options.drums,
        time_signature=tuple(options.time_signature),
        max_length=1 + options.max_new_tokens,
        monophonic=options.monophonic,
    )
    sample = options.temperature > 0
    processors = LogitsProcessorList([processor, *extra_processors])
    if not sample and options.kind_first:
        processors.append(KindFirstLogitsProcessor(tokenizer))
    idea = {}
    if idea_states is not None:
        idea = {"idea_states": idea_states, "idea_attention_mask": idea_attention_mask}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        if seed is not None:
            torch.manual_seed(seed)  # generate() samples from torch's global generator (restored on exit)
        out = model.generate(
            input_ids=bos,
            latent=latents.to(device),
            logits_processor=processors,
            max_new_tokens=options.max_new_tokens,
            do_sample=sample,
            temperature=options.temperature if sample else None,
            top_p=options.top_p if sample else None,
            top_k=None,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            streamer=streamer,
            **idea,
        )
    rows = []
    for row in out.tolist():
        end = row.index(tokenizer.eos_token_id) + 1 if tokenizer.eos_token_id in row else len(row)
        rows.append(row[:end])
    return rows


@torch.no_grad()
def vary(
    model,
    tokenizer,
    composition_ids,
    num_variations: int = 4,
    variation_strength: float = DEFAULT_VARIATION_STRENGTH,
    options: ComposeOptions | None = None,
    seed: int | None = None,
    streamer=None,
    keep_bars=(),
) -> list[list[int]]:
    """Variations of one idea (its composition ids): encode, pick latents, decode.

    ``keep_bars``: 0-based bars of the idea that come back unchanged (see the module docstring).
    """
    options = options or ComposeOptions()
    model.eval()
    composition_ids = list(composition_ids)
    extra = []
    if keep_bars:
        bars = bar_spans(composition_ids, tokenizer.bar_token_id)
        extra.append(KeepBarsLogitsProcessor(bars, keep_bars, tokenizer.bar_token_id, tokenizer.eos_token_id))
    if getattr(model.config, "idea_attention", False):
        latents, states, mask = encode_masked_ideas(
            model, tokenizer, composition_ids, num_variations, variation_strength, seed, keep_bars
        )
        return compose_from_latents(model, tokenizer, latents, options, seed, streamer, states, mask, extra)
    ids = torch.tensor([composition_ids], dtype=torch.long, device=model.device)
    posterior = model.encode(ids, torch.ones_like(ids))
    generator = _generator(seed, model.device)
    mean = posterior.mean.expand(num_variations, -1)
    logvar = posterior.logvar.expand(num_variations, -1)
    latents = model.sample_latent(type(posterior)(mean, logvar), variation_strength, generator=generator)
    return compose_from_latents(model, tokenizer, latents, options, seed, streamer, extra_processors=extra)


@torch.no_grad()
def generate_ideas(
    model, tokenizer, num_ideas: int = 4, options: ComposeOptions | None = None, seed: int | None = None, streamer=None
) -> list[list[int]]:
    """New ideas: from the prior N(0, I) (the paper's VAE), or from a blank idea of ``options.bars`` bars (idea
    attention: every bar ``Bar MASK``, the masked copy the composer learned to write free ideas from)."""
    options = options or ComposeOptions()
    model.eval()
    every_bar = [NotesInEveryBarLogitsProcessor(tokenizer)]  # a new idea has no bar meant to rest
    if getattr(model.config, "idea_attention", False):
        blank = blank_idea(tokenizer, options.bars)
        latents, states, mask = encode_masked_ideas(model, tokenizer, blank, num_ideas, 1.0, seed)
        return compose_from_latents(
            model, tokenizer, latents, options, seed, streamer, states, mask, extra_processors=every_bar
        )
    latents = model.sample_prior(num_ideas, generator=_generator(seed, model.device), device=model.device)
    return compose_from_latents(model, tokenizer, latents, options, seed, streamer, extra_processors=every_bar)


@torch.no_grad()
def interpolate(
    model,
    tokenizer,
    ids_a,
    ids_b,
    steps: int = 5,
    options: ComposeOptions | None = None,
    seed: int | None = None,
    streamer=None,
) -> list[list[int]]:
    """Ideas along the path between two ideas' posterior means (spherical interpolation).

    With idea attention, step ``t`` in [0, 1] reads idea a (``t < 0.5``) or idea b, masked by ``1 - |2t - 1|``:
    a itself first, a free idea in the middle, b itself last.
    """
    options = options or ComposeOptions()
    model.eval()
    if getattr(model.config, "idea_attention", False):
        rows = []
        for i, t in enumerate(torch.linspace(0.0, 1.0, steps).tolist()):
            source = list(ids_a) if t < 0.5 else list(ids_b)
            step_seed = None if seed is None else seed + i
            latents, states, mask = encode_masked_ideas(model, tokenizer, source, 1, 1.0 - abs(2 * t - 1), step_seed)
            rows += compose_from_latents(model, tokenizer, latents, options, step_seed, streamer, states, mask)
        return rows
    z = []
    for ids in (ids_a, ids_b):
        t = torch.tensor([list(ids)], dtype=torch.long, device=model.device)
        z.append(model.encode(t, torch.ones_like(t)).mean[0])
    latents = model.interpolate_latents(z[0], z[1], steps)
    return compose_from_latents(model, tokenizer, latents, options, seed, streamer)


__all__ = [
    "DEFAULT_VARIATION_STRENGTH",
    "ComposeOptions",
    "blank_idea",
    "compose_from_latents",
    "encode_masked_ideas",
    "generate_ideas",
    "interpolate",
    "vary",
]
