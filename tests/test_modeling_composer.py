"""Tests of the Cadenza composer VAE (tiny configs, CPU)."""

import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from safetensors import safe_open
from transformers import Trainer, TrainingArguments

from cadenza_hf.modeling.composer import (
    CadenzaComposerConfig,
    CadenzaComposerModel,
    ComposerOutput,
    LatentDistribution,
)

torch.set_num_threads(1)

VOCAB, BOS, PAD = 40, 1, 0


def tiny_config(**overrides) -> CadenzaComposerConfig:
    kwargs = {
        "vocab_size": VOCAB,
        "hidden_size": 32,
        "num_encoder_layers": 2,
        "num_decoder_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 64,
        "latent_size": 8,
        "hidden_dropout": 0.0,
        # larger than the 0.02 default so that the latent visibly steers an untrained decoder
        "initializer_range": 0.2,
    }
    return CadenzaComposerConfig(**{**kwargs, **overrides})


def tiny_model(seed: int = 0, **overrides) -> CadenzaComposerModel:
    torch.manual_seed(seed)
    return CadenzaComposerModel(tiny_config(**overrides))


def random_ids(batch: int, length: int, seed: int = 0) -> torch.LongTensor:
    return torch.randint(3, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def model() -> CadenzaComposerModel:
    return tiny_model()


def greedy(model, bos, z, n=12, **kwargs) -> torch.LongTensor:
    return model.generate(input_ids=bos, latent=z, max_new_tokens=n, do_sample=False, eos_token_id=None, **kwargs)


# ---------------------------------------------------------------------------------------------- forward and losses


def test_forward_shapes_and_loss_decomposition(model):
    ids = random_ids(3, 10)
    model.kl_beta = 0.7  # the attribute, not config.kl_beta, weights the KL
    out = model(input_ids=ids, labels=ids)
    assert isinstance(out, ComposerOutput)
    assert out.logits.shape == (3, 10, VOCAB)
    assert out.latent.shape == out.latent_mean.shape == out.latent_logvar.shape == (3, 8)
    assert torch.isfinite(out.loss)
    torch.testing.assert_close(out.loss, out.reconstruction_loss + 0.7 * out.kl_loss)
    assert list(out.keys())[:2] == ["loss", "logits"]  # to_tuple()/outputs[0] order expected by the Trainer


def test_free_bits_floor_matches_eq4():
    model = tiny_model(kl_free_bits=0.5)
    out = model(input_ids=random_ids(4, 9))
    kl_per_dim = LatentDistribution(out.latent_mean, out.latent_logvar).kl().mean(0)
    assert out.kl_loss >= 0.5 * 8 - 1e-6
    torch.testing.assert_close(out.kl_loss, kl_per_dim.clamp(min=0.5).sum())
    torch.testing.assert_close(out.kl_loss_raw, kl_per_dim.sum())
    # far-from-prior posterior: dimensions above the floor count in full
    dist = LatentDistribution(torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 0.0]]))
    torch.testing.assert_close(dist.kl(), torch.tensor([[4.5, 0.0]]))


def test_reconstruction_reduction_and_ignore_index():
    ids = random_ids(2, 8)
    labels = ids.clone()
    labels[1, 5:] = -100  # predicted tokens: 7 in row 0, 4 in row 1
    summed = tiny_model(reconstruction_reduction="sum").eval()(input_ids=ids, labels=labels)
    meaned = tiny_model(reconstruction_reduction="mean").eval()(input_ids=ids, labels=labels)
    torch.testing.assert_close(summed.reconstruction_loss, meaned.reconstruction_loss * 11 / 2)
    logits = summed.logits[:, :-1]
    valid = labels[:, 1:] != -100
    manual = torch.nn.functional.cross_entropy(logits[valid], labels[:, 1:][valid], reduction="sum") / 2
    torch.testing.assert_close(summed.reconstruction_loss, manual)


def test_backward_reaches_encoder_latent_projection_and_decoder(model):
    model.train()
    ids = random_ids(2, 7)
    model(input_ids=ids, labels=ids).loss.backward()
    for name in [
        "encoder.layers.0.self_attn.q_proj.weight",
        "latent_mean.weight",
        "latent_logvar.weight",
        "decoder.latent_proj.weight",
        "decoder.layers.1.mlp.fc_out.weight",
        "embed_tokens.weight",
    ]:
        grad = model.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_different_latents_give_different_logits(model):
    model.eval()
    ids = random_ids(1, 6)
    z = model.sample_prior(2, generator=torch.Generator().manual_seed(1))
    logits_a = model(input_ids=ids, latent=z[:1]).logits
    logits_b = model(input_ids=ids, latent=z[1:]).logits
    assert not torch.allclose(logits_a, logits_b, atol=1e-3)


def test_eval_forward_is_deterministic_and_uses_posterior_mean(model):
    model.eval()
    ids = random_ids(2, 6)
    out = model(input_ids=ids)
    assert torch.equal(out.latent, model.encode(ids).mean)
    torch.testing.assert_close(model(input_ids=ids).logits, out.logits)


def test_rope_matches_the_textbook_formula(model):
    from cadenza_hf.modeling.composer.modeling_composer import apply_rotary_pos_emb

    def rotate_half(x):  # the textbook helper: [x1, x2] -> [-x2, x1]
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((-x2, x1), dim=-1)

    q, k = torch.randn(2, 2, 3, 5, 8).unbind(0)  # (B, H, T, head_dim) each
    positions = torch.tensor([[0, 1, 2, 3, 9], [4, 5, 6, 7, 8]])
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, 8, 2).float() / 8))
    angles = torch.cat([positions[..., None] * inv_freq] * 2, dim=-1)  # (B, T, head_dim)
    cos, sin = angles.cos()[:, None], angles.sin()[:, None]
    cos_table, signed_sin = CadenzaComposerModel(tiny_config(num_attention_heads=4, hidden_size=32)).rotary_emb(
        q, positions
    )
    q_rot, k_rot = apply_rotary_pos_emb(q, k, cos_table, signed_sin)
    torch.testing.assert_close(q_rot, q * cos + rotate_half(q) * sin)
    torch.testing.assert_close(k_rot, k * cos + rotate_half(k) * sin)


def test_sdpa_matches_eager(model):
    model.eval()
    ids = random_ids(2, 9)
    mask = torch.ones_like(ids)
    mask[0, :3] = 0
    sdpa = model(input_ids=ids, attention_mask=mask).logits
    model.set_attn_implementation("eager")
    eager = model(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(sdpa[mask.bool()], eager[mask.bool()], atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------------------------- padding


def test_left_and_right_padding_match_unpadded(model):
    model.eval()
    ids = random_ids(1, 6)
    z = model.sample_prior(1, generator=torch.Generator().manual_seed(0))
    single = model(input_ids=ids, latent=z).logits[0]  # (6, vocab)

    left = torch.cat([torch.full((1, 3), PAD), ids], dim=1)
    left_mask = torch.cat([torch.zeros(1, 3, dtype=torch.long), torch.ones(1, 6, dtype=torch.long)], dim=1)
    batch = torch.cat([left, random_ids(1, 9, seed=5)])
    batch_mask = torch.cat([left_mask, torch.ones(1, 9, dtype=torch.long)])
    padded = model(input_ids=batch, attention_mask=batch_mask, latent=z.expand(2, -1)).logits[0, 3:]
    assert torch.isfinite(padded).all()
    torch.testing.assert_close(padded, single, atol=1e-5, rtol=1e-5)

    # encoder: first real token is pooled, positions ignore the pads
    mean = model.encode(ids).mean
    torch.testing.assert_close(model.encode(batch, batch_mask).mean[:1], mean, atol=1e-5, rtol=1e-5)
    right = torch.cat([ids, torch.full((1, 3), PAD)], dim=1)
    right_mask = torch.cat([torch.ones(1, 6, dtype=torch.long), torch.zeros(1, 3, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model.encode(right, right_mask).mean, mean, atol=1e-5, rtol=1e-5)


def test_left_padded_generate_row_matches_unpadded(model):
    model.eval()
    prompt = random_ids(1, 4)
    z = model.sample_prior(2, generator=torch.Generator().manual_seed(3))
    kwargs = {"output_logits": True, "return_dict_in_generate": True}
    alone = greedy(model, prompt, z[:1], **kwargs)
    batch = torch.cat([torch.cat([torch.full((1, 2), PAD), prompt], dim=1), random_ids(1, 6, seed=9)])
    mask = torch.ones_like(batch)
    mask[0, :2] = 0
    together = greedy(model, batch, z, attention_mask=mask, **kwargs)
    assert torch.equal(together.sequences[0, 2:], alone.sequences[0])
    row_logits, alone_logits = torch.stack(together.logits)[:, 0], torch.stack(alone.logits)[:, 0]
    torch.testing.assert_close(row_logits, alone_logits, atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------------------------------------- generation


def test_generate_cached_equals_uncached(model):
    model.eval()
    bos = torch.full((3, 1), BOS)
    z = model.sample_prior(3, generator=torch.Generator().manual_seed(0))
    kwargs = {"output_logits": True, "return_dict_in_generate": True}
    cached = greedy(model, bos, z, n=16, **kwargs)
    uncached = greedy(model, bos, z, n=16, use_cache=False, **kwargs)
    assert cached.sequences.shape == (3, 17)
    assert torch.equal(cached.sequences, uncached.sequences)
    # compare the scores, not just the argmax: an untrained decoder often repeats one token whatever its context
    torch.testing.assert_close(torch.stack(cached.logits), torch.stack(uncached.logits), atol=1e-4, rtol=1e-4)
    # teacher forcing the generated sequence reproduces the step-by-step logits
    logits = model(input_ids=cached.sequences[:, :-1], latent=z).logits
    torch.testing.assert_close(logits, torch.stack(cached.logits, dim=1), atol=1e-4, rtol=1e-4)


def test_num_return_sequences_expands_latent(model):
    model.eval()
    bos = torch.full((2, 1), BOS)
    z = model.sample_prior(2, generator=torch.Generator().manual_seed(0))
    # top_k=1 sampling is greedy, but allowed with num_return_sequences > 1
    out = model.generate(
        input_ids=bos, latent=z, max_new_tokens=10, do_sample=True, top_k=1, num_return_sequences=3, eos_token_id=None
    )
    assert out.shape == (6, 11)
    first, second = greedy(model, bos[:1], z[:1], n=10), greedy(model, bos[:1], z[1:], n=10)
    assert not torch.equal(first, second)
    assert torch.equal(out[:3], first.expand(3, -1))
    assert torch.equal(out[3:], second.expand(3, -1))


def test_filled_cache_without_latent_raises(model):
    model.eval()
    ids = random_ids(1, 4)
    out = model(input_ids=ids, use_cache=True)
    with pytest.raises(ValueError, match="latent"):
        model(input_ids=ids[:, -1:], cache=out.cache)


# ---------------------------------------------------------------------------------------------- save / load


def test_save_load_roundtrip_keeps_logits_rope_and_tying(model, tmp_path):
    model.eval()
    ids = random_ids(2, 8)
    expected = model(input_ids=ids).logits
    model.save_pretrained(tmp_path)
    with safe_open(tmp_path / "model.safetensors", "pt") as f:
        assert "lm_head.weight" not in f.keys()  # tied: stored once

    loaded = CadenzaComposerModel.from_pretrained(tmp_path).eval()
    fresh_inv_freq = 1.0 / (10000.0 ** (torch.arange(0, 8, 2, dtype=torch.float) / 8))
    torch.testing.assert_close(loaded.rotary_emb.inv_freq, fresh_inv_freq)
    torch.testing.assert_close(loaded.rotary_emb.original_inv_freq, fresh_inv_freq)
    assert loaded.lm_head.weight is loaded.embed_tokens.weight
    torch.testing.assert_close(loaded(input_ids=ids).logits, expected, atol=0.0, rtol=0.0)
    assert loaded.kl_beta == pytest.approx(model.config.kl_beta)


def test_tied_weights(model):
    assert model.lm_head.weight is model.embed_tokens.weight


# ---------------------------------------------------------------------------------------------- latent API


def test_sample_latent_edges_and_validation(model):
    ids = random_ids(2, 6)
    dist = model.encode(ids)
    assert torch.equal(model.sample_latent(dist, 0.0), dist.mean)
    # s = 0.5 is one full posterior sample (first draw of the generator)
    eps = torch.randn(2, 8, generator=torch.Generator().manual_seed(4))
    half = model.sample_latent(dist, 0.5, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(half, dist.mean + dist.std * eps)
    # s = 1 is a pure prior sample: the posterior does not matter at all
    shifted = LatentDistribution(dist.mean + 5.0, dist.logvar - 1.0)
    one_a = model.sample_latent(dist, 1.0, generator=torch.Generator().manual_seed(4))
    one_b = model.sample_latent(shifted, 1.0, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(one_a, one_b)
    assert not torch.allclose(one_a, dist.mean)
    # continuous in s for a fixed seed
    near = model.sample_latent(dist, 0.5001, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(near, half, atol=1e-2, rtol=0.0)
    # above 0.5 the mean slides to 0 and the variance to 1, linearly in a = 2s - 1 (no mid-range shrinkage)
    n = 200_000
    wide = LatentDistribution(torch.full((n, 2), 3.0), torch.log(torch.full((n, 2), 0.25)))
    z = model.sample_latent(wide, 0.75, generator=torch.Generator().manual_seed(1))  # a = 0.5
    torch.testing.assert_close(z.mean(0), torch.full((2,), 1.5), atol=0.01, rtol=0)
    torch.testing.assert_close(z.var(0), torch.full((2,), 0.5 * 0.25 + 0.5), atol=0.01, rtol=0)
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="variation_strength"):
            model.sample_latent(dist, bad)


def test_latent_distribution_sample_and_prior(model):
    dist = LatentDistribution(torch.zeros(1, 8), torch.full((1, 8), -60.0).clamp(min=-30.0))
    torch.testing.assert_close(dist.sample(torch.Generator().manual_seed(0)), torch.zeros(1, 8), atol=1e-5, rtol=0)
    assert torch.equal(dist.mode(), dist.mean)
    a = model.sample_prior(3, generator=torch.Generator().manual_seed(1))
    b = model.sample_prior(3, generator=torch.Generator().manual_seed(1))
    assert a.shape == (3, 8) and torch.equal(a, b)
    # logvar is clamped, so an extreme encoder output cannot overflow exp()
    assert model.encode(random_ids(1, 5)).logvar.abs().max() <= 30.0


def test_interpolate_latents_is_spherical_with_exact_ends():
    z_a, z_b = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 2.0, 0.0])
    path = CadenzaComposerModel.interpolate_latents(z_a, z_b, steps=5)
    assert path.shape == (5, 3)
    assert torch.equal(path[0], z_a) and torch.equal(path[-1], z_b)
    # slerp of orthogonal vectors: the midpoint is sin(45°) * (z_a + z_b), not the chord midpoint (z_a + z_b) / 2
    torch.testing.assert_close(path[2], torch.tensor([1.0, 2.0, 0.0]) / 2**0.5)
    with pytest.raises(ValueError, match="steps"):
        CadenzaComposerModel.interpolate_latents(z_a, z_b, steps=1)


# ---------------------------------------------------------------------------------------------- Trainer


class _Rows(torch.utils.data.Dataset):
    def __init__(self, ids: torch.LongTensor):
        self.ids = ids

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": torch.ones_like(self.ids[i]), "labels": self.ids[i]}


def _logged_losses(tmp_path, batch_size: int, accumulation: int) -> list[float]:
    args = TrainingArguments(
        output_dir=str(tmp_path / f"ga{accumulation}"),
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        max_steps=4,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=0,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = Trainer(model=tiny_model(initializer_range=0.02), args=args, train_dataset=_Rows(random_ids(16, 8)))
    trainer.train()
    return [log["loss"] for log in trainer.state.log_history if "loss" in log]


def test_trainer_gradient_accumulation_keeps_loss_scale(tmp_path):
    plain = _logged_losses(tmp_path, batch_size=4, accumulation=1)
    accumulated = _logged_losses(tmp_path, batch_size=2, accumulation=2)
    assert len(plain) == len(accumulated) == 4
    assert accumulated == pytest.approx(plain, rel=1e-3)


# ---------------------------------------------------------------------------------------------- config


def test_config_defaults_alias_and_roundtrip(tmp_path):
    config = CadenzaComposerConfig()
    assert config.num_hidden_layers == config.num_decoder_layers == 4
    assert config.rope_parameters == {"rope_type": "default", "rope_theta": 10000.0}
    assert config.reconstruction_reduction == "sum" and config.tie_word_embeddings
    config.save_pretrained(tmp_path)
    assert CadenzaComposerConfig.from_pretrained(tmp_path).to_dict() == config.to_dict()


@pytest.mark.parametrize(
    ("overrides", "quoted"),
    [
        ({"hidden_size": 30}, "30"),
        ({"hidden_size": 12, "num_attention_heads": 4}, "3"),  # odd head_dim: no RoPE
        ({"latent_size": 0}, "0"),
        ({"reconstruction_reduction": "max"}, "'max'"),
        ({"kl_free_bits": -0.1}, "-0.1"),
        ({"word_dropout": 1.0, "word_dropout_token_id": 3}, "1.0"),
        ({"word_dropout": 0.2}, "word_dropout_token_id"),
        ({"bow_loss_weight": -1.0}, "-1.0"),
    ],
)
def test_config_validation_quotes_bad_value(overrides, quoted):
    with pytest.raises(StrictDataclassClassValidationError) as info:
        CadenzaComposerConfig(**overrides)
    assert isinstance(info.value.__cause__, ValueError)
    assert quoted in str(info.value.__cause__)


def test_word_dropout_hides_decoder_inputs_only_in_training():
    mask_id = 3
    model = tiny_model(word_dropout=0.5, word_dropout_token_id=mask_id)
    ids = random_ids(4, 200, seed=1).clamp(min=mask_id + 1)
    attention = torch.ones_like(ids)
    attention[:, 150:] = 0  # right padding: never replaced
    torch.manual_seed(0)
    model.train()
    dropped = model._drop_words(ids, attention)
    replaced = dropped == mask_id
    assert not replaced[:, 0].any() and not replaced[:, 150:].any()
    assert 0.4 < replaced[:, 1:150].float().mean().item() < 0.6
    assert torch.equal(dropped[~replaced], ids[~replaced])
    model.eval()
    assert torch.equal(model._drop_words(ids, attention), ids)

    # The training loss is the loss of the dropped input predicting the untouched labels, with z from the
    # untouched input: the same numbers as a no-dropout twin fed the dropped ids as decoder input.
    twin = tiny_model()
    twin.load_state_dict(model.state_dict())
    model.train(), twin.train()
    z = torch.randn(4, model.config.latent_size)
    torch.manual_seed(5)
    out = model(input_ids=ids, attention_mask=attention, latent=z, labels=ids)
    torch.manual_seed(5)
    expected_input = model._drop_words(ids, attention)
    ref = twin(input_ids=expected_input, attention_mask=attention, latent=z, labels=ids)
    assert torch.allclose(out.loss, ref.loss) and not torch.equal(expected_input, ids)
    with torch.no_grad():  # and the encoder always reads the full sequence
        model.eval(), twin.eval()
        assert torch.allclose(
            model(input_ids=ids, attention_mask=attention).latent_mean, twin.encode(ids, attention).mean
        )


def test_presets_and_parameter_counts():
    small = CadenzaComposerConfig.from_preset("small", vocab_size=300)
    paper = CadenzaComposerConfig.from_preset("paper")
    assert (paper.num_encoder_layers, paper.num_decoder_layers, paper.num_attention_heads) == (12, 12, 8)
    assert (paper.hidden_size, paper.latent_size, paper.kl_beta, paper.kl_free_bits) == (512, 128, 0.3, 0.25)
    assert small.vocab_size == 300
    with torch.device("meta"):
        n_small = CadenzaComposerModel(small).num_parameters()
        n_paper = CadenzaComposerModel(paper).num_parameters()
    assert 4e6 < n_small < 7e6
    assert 70e6 < n_paper < 85e6
    with pytest.raises(ValueError, match="preset"):
        CadenzaComposerConfig.from_preset("huge")


def test_bag_of_words_loss_is_added_and_trains_the_encoder_only():
    assert tiny_model().bow_head is None  # weight 0 (the paper's setting): no head, no extra term
    assert tiny_model()(input_ids=random_ids(2, 6), labels=random_ids(2, 6)).bow_loss is None
    model = tiny_model(bow_loss_weight=0.5).eval()
    model.kl_beta = 0.3
    ids = random_ids(3, 12, seed=2)
    labels = ids.clone()
    labels[2, 7:] = -100
    out = model(input_ids=ids, labels=labels)
    # By hand: every target token (order ignored) under one distribution predicted from z, summed per sequence.
    log_probs = torch.log_softmax(model.bow_head(out.latent), dim=-1)
    targets, valid = labels[:, 1:], labels[:, 1:] != -100
    manual = -sum(log_probs[b, targets[b][valid[b]]].sum() for b in range(3)) / 3
    torch.testing.assert_close(out.bow_loss, manual)
    torch.testing.assert_close(out.loss, out.reconstruction_loss + 0.3 * out.kl_loss + 0.5 * out.bow_loss)
    # Shuffling the targets' order leaves it unchanged: a bag, not a sequence.
    shuffled = torch.randperm(11, generator=torch.Generator().manual_seed(0)) + 1
    perm = torch.cat([torch.zeros(1, dtype=torch.long), shuffled])  # BOS stays first
    torch.testing.assert_close(model.bag_of_words_loss(out.latent, labels[:, perm]), out.bow_loss)
    # Its gradient reaches the encoder and the latent projection, never the decoder.
    model.zero_grad()
    model.bag_of_words_loss(model.encode(ids).mean, labels).backward()
    assert model.encoder.layers[0].self_attn.q_proj.weight.grad.abs().sum() > 0
    assert model.latent_mean.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.decoder.parameters())
    with pytest.raises(ValueError, match="bow_loss_weight"):
        tiny_model().bag_of_words_loss(out.latent, labels)
