"""Composer-side generation: variations of an idea, ideas from the prior, interpolations.

All three end in :func:`compose_from_latents`, which decodes latents with
``model.generate`` under the grammar processor, so every output is valid composition
tokens with the requested bar count.

``variation_strength`` (a float in [0, 1]) picks the latent (see
``CadenzaComposerModel.sample_latent``): 0 is the posterior mean ("stay close to the
idea"), 0.5 a full posterior sample, 1 a sample from the prior ("free"); values between
move continuously. Its measured effect on similarity is in docs/benchmarks.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import LogitsProcessorList

from .logits_process import KindFirstLogitsProcessor, PerTokGrammarLogitsProcessor

DEFAULT_VARIATION_STRENGTH = 0.5


@dataclass
class ComposeOptions:
    """How to decode: greedy (``temperature == 0``) or sampled with ``temperature``/``top_p``.

    ``drums`` selects the drum grammar (PitchDrum notes, no durations); ``monophonic``
    allows one note per onset (melodies). Neither is a model input: the composer has no
    kind conditioning, so the kind is imposed by the grammar processor.
    ``kind_first`` (greedy only): choose the most likely token kind, then the most likely
    token of that kind (:class:`~cadenza_hf.generation.KindFirstLogitsProcessor`);
    ``False`` is plain token-level greedy. Measured effect in docs/benchmarks.md.
    """

    bars: int = 4
    drums: bool = False
    monophonic: bool = False
    time_signature: tuple[int, int] = (4, 4)
    temperature: float = 1.0
    top_p: float = 0.95
    max_new_tokens: int = 768
    kind_first: bool = True


def _generator(seed: int | None, device) -> torch.Generator | None:
    return None if seed is None else torch.Generator(device=device).manual_seed(seed)


@torch.no_grad()
def compose_from_latents(
    model, tokenizer, latents: torch.Tensor, options: ComposeOptions, seed: int | None = None, streamer=None
) -> list[list[int]]:
    """Decode each latent row into composition ids (BOS ... EOS, no padding).

    ``streamer`` (optional) is handed to ``generate`` (``put`` per step, ``end`` at the
    end), e.g. to drive a progress bar.
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
    processors = LogitsProcessorList([processor])
    if not sample and options.kind_first:
        processors.append(KindFirstLogitsProcessor(tokenizer))
    if seed is not None:
        torch.manual_seed(seed)  # generate() samples from torch's global generator
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
) -> list[list[int]]:
    """Variations of one idea (its composition ids): encode, pick latents, decode."""
    options = options or ComposeOptions()
    model.eval()
    ids = torch.tensor([list(composition_ids)], dtype=torch.long, device=model.device)
    posterior = model.encode(ids, torch.ones_like(ids))
    generator = _generator(seed, model.device)
    mean = posterior.mean.expand(num_variations, -1)
    logvar = posterior.logvar.expand(num_variations, -1)
    latents = model.sample_latent(type(posterior)(mean, logvar), variation_strength, generator=generator)
    return compose_from_latents(model, tokenizer, latents, options, seed, streamer)


@torch.no_grad()
def generate_ideas(
    model, tokenizer, num_ideas: int = 4, options: ComposeOptions | None = None, seed: int | None = None, streamer=None
) -> list[list[int]]:
    """New ideas from the prior N(0, I) (unconditional generation)."""
    options = options or ComposeOptions()
    model.eval()
    latents = model.sample_prior(num_ideas, generator=_generator(seed, model.device), device=model.device)
    return compose_from_latents(model, tokenizer, latents, options, seed, streamer)


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
    """Ideas along the path between two ideas' posterior means (spherical interpolation)."""
    options = options or ComposeOptions()
    model.eval()
    z = []
    for ids in (ids_a, ids_b):
        t = torch.tensor([list(ids)], dtype=torch.long, device=model.device)
        z.append(model.encode(t, torch.ones_like(t)).mean[0])
    latents = model.interpolate_latents(z[0], z[1], steps)
    return compose_from_latents(model, tokenizer, latents, options, seed, streamer)


__all__ = [
    "DEFAULT_VARIATION_STRENGTH",
    "ComposeOptions",
    "compose_from_latents",
    "generate_ideas",
    "interpolate",
    "vary",
]
