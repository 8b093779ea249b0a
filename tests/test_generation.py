"""Composer decoding helpers: kind-first greedy and the at-least-one-note rule."""

import torch

from cadenza_hf.generation.logits_process import KindFirstLogitsProcessor
from cadenza_hf.generation.variation import ComposeOptions, compose_from_latents
from cadenza_hf.tokenization.grammar import Kind

from .tiny_models import tiny_composer

torch.set_num_threads(1)


def test_kind_first_prefers_the_kind_with_the_most_mass(tokenizer):
    # Bar alone holds 15%; 40 pitches hold 2% each (80% together); EOS 5%
    pitches = tokenizer.grammar.ids_of[Kind.PITCH][:40].tolist()
    bar, eos = tokenizer.convert_tokens_to_ids("Bar_None"), tokenizer.eos_token_id
    probs = torch.zeros(1, tokenizer.vocab_size)
    probs[0, bar], probs[0, eos] = 0.15, 0.05
    probs[0, pitches] = 0.02
    probs[0, pitches[7]] = 0.021  # the best pitch, still far below Bar on its own
    scores = probs.log()
    assert scores.argmax(-1).item() == bar  # what plain greedy would write
    kept = KindFirstLogitsProcessor(tokenizer)(torch.zeros(1, 1, dtype=torch.long), scores)
    assert kept.argmax(-1).item() == pitches[7]
    assert torch.isinf(kept[0, bar]) and torch.isfinite(kept[0, pitches]).all()
    # a row whose mass sits on Bar keeps Bar: the choice is per row
    scores2 = torch.cat([scores, torch.full_like(scores, -30.0).index_fill(1, torch.tensor([bar]), 0.0)])
    kept2 = KindFirstLogitsProcessor(tokenizer)(torch.zeros(2, 1, dtype=torch.long), scores2)
    assert kept2.argmax(-1).tolist() == [pitches[7], bar]


def test_greedy_outputs_are_valid_and_never_empty(tokenizer):
    model = tiny_composer(tokenizer).eval()
    latents = model.sample_prior(6, generator=torch.Generator().manual_seed(0))
    bar = tokenizer.convert_tokens_to_ids("Bar_None")
    pitches = set(tokenizer.grammar.ids_of[Kind.PITCH].tolist()) | set(tokenizer.grammar.ids_of[Kind.DRUM].tolist())
    for kind_first in (True, False):
        for drums in (False, True):
            options = ComposeOptions(bars=2, drums=drums, temperature=0.0, max_new_tokens=96, kind_first=kind_first)
            rows = compose_from_latents(model, tokenizer, latents, options)
            for row in rows:
                assert tokenizer.grammar_errors(row, bars=2, require_eos=True) == 0
                assert row.count(bar) == 2 and any(t in pitches for t in row)
            assert compose_from_latents(model, tokenizer, latents, options) == rows  # deterministic
