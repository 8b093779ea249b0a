"""The idea-attention composer: masking, collation, decoding with the idea, locked bars, beams."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import LogitsProcessorList

from cadenza_hf.data import DenoisingComposerCollator
from cadenza_hf.examples import example_idea
from cadenza_hf.generation.logits_process import KeepBarsLogitsProcessor, PerTokGrammarLogitsProcessor
from cadenza_hf.generation.variation import ComposeOptions, blank_idea, generate_ideas, interpolate, vary
from cadenza_hf.tokenization.masking import bar_spans, mask_idea

from .tiny_models import tiny_composer

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def idea(tokenizer) -> list[int]:
    return tokenizer.composition_ids(tokenizer.encode_midi(example_idea()))


def _mask(tokenizer, ids, ratio, seed=0, keep=()):
    specials = (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    return mask_idea(
        ids,
        ratio,
        random.Random(seed),
        bar_id=tokenizer.bar_token_id,
        mask_id=tokenizer.mask_token_id,
        special_ids=specials,
        keep_bars=keep,
    )


def test_masking_keeps_bars_collapses_runs_and_locks_kept_bars(tokenizer, idea):
    bar, mask = tokenizer.bar_token_id, tokenizer.mask_token_id
    assert _mask(tokenizer, idea, 0.0) == idea
    blank = _mask(tokenizer, idea, 1.0)
    assert blank == [tokenizer.bos_token_id, *[bar, mask] * 4, tokenizer.eos_token_id]
    half = _mask(tokenizer, idea, 0.5, seed=3)
    assert half.count(bar) == 4 and mask in half and len(half) == len(idea)  # masked in place
    assert all(h in (mask, t) for h, t in zip(half, idea))
    assert 0.3 < half.count(mask) / (len(idea) - 6) < 0.7
    assert half == _mask(tokenizer, idea, 0.5, seed=3) != _mask(tokenizer, idea, 0.5, seed=4)
    locked = _mask(tokenizer, idea, 1.0, keep=(1, 2))
    spans = bar_spans(idea, bar)
    assert bar_spans(locked, bar)[1:3] == spans[1:3] and bar_spans(locked, bar)[0] == [bar, mask]
    with pytest.raises(ValueError, match="ratio"):
        _mask(tokenizer, idea, 1.5)


def test_denoising_collator_targets_the_clean_idea(tokenizer, idea):
    collate = DenoisingComposerCollator(tokenizer, free_share=0.0, seed=1)
    batch = collate([{"composition_ids": idea}, {"composition_ids": idea[:12] + [tokenizer.eos_token_id]}])
    assert batch["input_ids"][0].tolist() == idea
    assert (batch["labels"] == batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)).all()
    enc, enc_mask = batch["encoder_input_ids"], batch["encoder_attention_mask"]
    assert enc.shape == enc_mask.shape and enc_mask.sum(1).tolist()[0] <= len(idea)
    assert enc[0, : enc_mask[0].sum()].tolist().count(tokenizer.bar_token_id) == 4


def test_idea_attention_decoding_matches_teacher_forcing_and_reads_the_idea(tokenizer, idea):
    model = tiny_composer(tokenizer, idea_attention=True)
    with torch.no_grad():
        for layer in model.decoder.layers:  # make the idea matter strongly in this random model
            layer.idea_attn.o_proj.weight.mul_(20)
    ids = torch.tensor([idea])
    posterior, states = model.encode_idea(ids)
    out = model.generate(
        input_ids=ids[:, :1], latent=posterior.mean, idea_states=states, max_new_tokens=12, do_sample=False
    )
    forced = model(input_ids=out, latent=posterior.mean, idea_states=states, use_cache=False).logits
    assert out[0, 1:].tolist() == forced[0, :-1].argmax(-1).tolist()  # cached K/V == full recompute
    other = model.encode_idea(ids.flip(1))[1]
    changed = model(input_ids=out, latent=posterior.mean, idea_states=other, use_cache=False).logits
    assert not torch.allclose(changed, forced)  # the decoder reads the idea, not only z
    with pytest.raises(ValueError, match="idea_states"):
        model(input_ids=out, latent=posterior.mean)


def test_vary_with_idea_attention_is_valid_seeded_and_keeps_locked_bars(tokenizer, idea):
    model = tiny_composer(tokenizer, idea_attention=True)
    bar = tokenizer.bar_token_id
    options = ComposeOptions(bars=4, temperature=1.0, max_new_tokens=200)
    state = torch.random.get_rng_state()
    rows = vary(
        model, tokenizer, idea, num_variations=3, variation_strength=0.6, options=options, seed=5, keep_bars=(0, 2)
    )
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random state is untouched
    assert rows == vary(
        model, tokenizer, idea, num_variations=3, variation_strength=0.6, options=options, seed=5, keep_bars=(0, 2)
    )
    for row in rows:
        assert tokenizer.grammar_errors(row, bars=4, require_eos=True) == 0
        assert bar_spans(row, bar)[0] == bar_spans(idea, bar)[0]
        assert bar_spans(row, bar)[2] == bar_spans(idea, bar)[2]
    for row in generate_ideas(model, tokenizer, 2, ComposeOptions(bars=2, max_new_tokens=120), seed=1):
        assert tokenizer.grammar_errors(row, bars=2, require_eos=True) == 0
    path = interpolate(model, tokenizer, idea, idea, steps=3, options=options, seed=2)
    assert len(path) == 3 and all(tokenizer.grammar_errors(r, bars=4, require_eos=True) == 0 for r in path)
    assert blank_idea(tokenizer, 2).count(tokenizer.mask_token_id) == 2


def test_keep_bars_works_with_the_papers_vae_too(tokenizer, idea):
    model = tiny_composer(tokenizer)
    options = ComposeOptions(bars=4, temperature=0.0, max_new_tokens=200)
    for row in vary(model, tokenizer, idea, num_variations=2, options=options, seed=0, keep_bars=(3,)):
        assert bar_spans(row, tokenizer.bar_token_id)[3] == bar_spans(idea, tokenizer.bar_token_id)[3]
    with pytest.raises(ValueError, match="outside"):
        KeepBarsLogitsProcessor(bar_spans(idea, tokenizer.bar_token_id), (4,), tokenizer.bar_token_id, 2)


def test_beam_search_with_the_grammar_gives_valid_music(tokenizer):
    # Beam search reorders rows between steps; a grammar state kept per row index then
    # belongs to another beam's prefix (before the fix every beam output broke the grammar).
    model = tiny_composer(tokenizer, seed=3)
    latents = model.sample_prior(2, generator=torch.Generator().manual_seed(0))
    bos = torch.full((2, 1), tokenizer.bos_token_id)
    for drums in (False, True):
        grammar = PerTokGrammarLogitsProcessor(tokenizer, bars=2, drums=drums, max_length=97)
        out = model.generate(
            input_ids=bos,
            latent=latents,
            logits_processor=LogitsProcessorList([grammar]),
            max_new_tokens=96,
            num_beams=4,
            num_return_sequences=2,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        assert out.shape[0] == 4
        for row in out.tolist():
            row = row[: row.index(tokenizer.eos_token_id) + 1]
            assert tokenizer.grammar_errors(row, bars=2, require_eos=True) == 0
