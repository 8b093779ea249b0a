"""Unit tests for the Cadenza performer (tiny configs, CPU, a few seconds in all)."""

import json
import math

import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError, StrictDataclassFieldValidationError
from torch.nn import functional as F

from cadenza_hf.modeling.performer import (
    PERFORMER_PRESETS,
    CadenzaPerformerConfig,
    CadenzaPerformerForMaskedLM,
    CadenzaPerformerModel,
    sinusoidal_position_table,
)

torch.set_num_threads(1)

VOCAB = 48
PAD, MASK = 0, 3
VELOCITY_IDS = [10, 11, 12, 13, 14]
MICROTIMING_IDS = [20, 21, 22, 23]
COMPOSITION_IDS = list(range(30, 48))  # stand-ins for pitch / timeshift / duration / bar tokens


def tiny_config(**overrides) -> CadenzaPerformerConfig:
    kwargs = dict(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        velocity_token_ids=VELOCITY_IDS,
        microtiming_token_ids=MICROTIMING_IDS,
    )
    return CadenzaPerformerConfig(**{**kwargs, **overrides})


def tiny_model(seed: int = 0, **overrides) -> CadenzaPerformerForMaskedLM:
    torch.manual_seed(seed)
    return CadenzaPerformerForMaskedLM(tiny_config(**overrides)).eval()


def performance_batch(batch: int = 2, notes: int = 4, seed: int = 0):
    """PerTok-like rows `[comp, velocity, microtiming, comp] * notes` with the performance tokens masked.

    Returns `(masked_ids, labels, velocity_positions, microtiming_positions, original_ids)`.
    """
    g = torch.Generator().manual_seed(seed)
    comp = torch.tensor(COMPOSITION_IDS)[torch.randint(len(COMPOSITION_IDS), (batch, notes, 2), generator=g)]
    vel = torch.tensor(VELOCITY_IDS)[torch.randint(len(VELOCITY_IDS), (batch, notes, 1), generator=g)]
    mt = torch.tensor(MICROTIMING_IDS)[torch.randint(len(MICROTIMING_IDS), (batch, notes, 1), generator=g)]
    original = torch.cat([comp[..., :1], vel, mt, comp[..., 1:]], dim=-1).view(batch, 4 * notes)  # (B, 4 * notes)
    slot_kind = torch.tensor([0, 1, 2, 0]).repeat(notes).expand(batch, -1)  # 1 velocity, 2 microtiming
    velocity_positions, microtiming_positions = slot_kind == 1, slot_kind == 2
    slots = velocity_positions | microtiming_positions
    masked = original.masked_fill(slots, MASK)
    labels = original.masked_fill(~slots, -100)
    return masked, labels, velocity_positions, microtiming_positions, original


# ----------------------------------------------------------------------------------------------------- forward


def test_forward_shapes_and_hidden_states():
    model = tiny_model()
    ids, labels, *_ = performance_batch(batch=3, notes=5)
    out = model(ids, labels=labels, output_hidden_states=True)
    assert out.logits.shape == (3, 20, VOCAB)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert len(out.hidden_states) == model.config.num_hidden_layers + 1
    assert all(h.shape == (3, 20, 32) for h in out.hidden_states)
    base = CadenzaPerformerModel(tiny_config()).eval()
    assert base(ids).last_hidden_state.shape == (3, 20, 32)
    assert model.config._attn_implementation == "sdpa"


def test_sequence_longer_than_position_table_raises():
    model = tiny_model()
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(torch.full((1, 65), 30))


def test_loss_is_cross_entropy_on_labelled_positions_only():
    model = tiny_model()
    ids, labels, *_ = performance_batch()
    out = model(ids, labels=labels)
    labelled = labels != -100
    expected = F.cross_entropy(out.logits[labelled], labels[labelled])
    torch.testing.assert_close(out.loss, expected)
    # must-fail sanity: a loss over every position would be different
    assert not torch.allclose(out.loss, F.cross_entropy(out.logits.flatten(0, 1), ids.flatten()))

    # scrambling the logits of unlabelled positions cannot move the loss
    def scramble(module, args, logits):
        return torch.where(labelled[..., None], logits, 100 * torch.randn_like(logits))

    handle = model.lm_head.register_forward_hook(scramble)
    try:
        scrambled = model(ids, labels=labels)
    finally:
        handle.remove()
    assert not torch.allclose(scrambled.logits, out.logits)
    torch.testing.assert_close(scrambled.loss, out.loss)


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_padding_invariance(attn_implementation):
    model = tiny_model()
    model.set_attn_implementation(attn_implementation)
    ids, *_ = performance_batch(batch=2, notes=4)  # (2, 16)
    short = ids[0, :11]
    padded = ids.clone()
    padded[0, 11:] = PAD
    attention_mask = torch.ones_like(padded)
    attention_mask[0, 11:] = 0
    alone = model(short[None]).logits[0]
    batched = model(padded, attention_mask=attention_mask).logits
    torch.testing.assert_close(batched[0, :11], alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched[1], model(ids[1:]).logits[0], atol=1e-5, rtol=1e-5)
    # must-fail sanity: without the mask, the pad positions leak into the real ones
    unmasked = model(padded).logits
    assert (unmasked[0, :11] - alone).abs().max() > 1e-3


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_output_positions_compute_only_the_wanted_positions_and_match_the_full_pass(attn_implementation):
    model = tiny_model()
    model.set_attn_implementation(attn_implementation)
    ids, labels, *_ = performance_batch(batch=2, notes=4)  # (2, 16)
    attention_mask = torch.ones_like(ids)
    attention_mask[0, 11:] = 0  # row 0 padded after 11 tokens
    ids = ids.masked_fill(attention_mask == 0, PAD)
    labels = labels.masked_fill(attention_mask == 0, -100)
    positions = torch.tensor([1, 2, 9, 14])
    full = model(ids, attention_mask=attention_mask)
    part = model(ids, attention_mask=attention_mask, output_positions=positions)
    assert part.logits.shape == (2, 4, VOCAB)
    torch.testing.assert_close(part.logits, full.logits[:, positions], atol=1e-5, rtol=1e-5)
    # labels are read at the kept positions: the loss is that of those positions in the full pass
    kept = torch.full_like(labels, -100)
    kept[:, positions] = labels[:, positions]
    loss_full = model(ids, attention_mask=attention_mask, labels=kept).loss
    loss_part = model(ids, attention_mask=attention_mask, labels=labels, output_positions=positions).loss
    torch.testing.assert_close(loss_part, loss_full)
    hidden = model.performer(ids, attention_mask=attention_mask, output_positions=positions).last_hidden_state
    assert hidden.shape == (2, 4, model.config.hidden_size)


def test_sdpa_matches_eager():
    model = tiny_model()
    ids, *_ = performance_batch()
    attention_mask = torch.ones_like(ids)
    attention_mask[1, -3:] = 0
    sdpa = model(ids, attention_mask=attention_mask).logits
    model.set_attn_implementation("eager")
    eager = model(ids, attention_mask=attention_mask).logits
    torch.testing.assert_close(sdpa, eager, atol=1e-5, rtol=1e-5)


def test_gradient_checkpointing_gives_same_loss_and_grads():
    ids, labels, *_ = performance_batch()
    losses, grads = [], []
    for checkpointing in (False, True):
        model = tiny_model().train()
        if checkpointing:
            model.activation_checkpointing_enable()
        loss = model(ids, labels=labels).loss
        loss.backward()
        losses.append(loss.detach())
        grads.append(model.performer.layers[0].attention.q_proj.weight.grad)
    torch.testing.assert_close(losses[0], losses[1])
    torch.testing.assert_close(grads[0], grads[1])


# ------------------------------------------------------------------------------------- positions, save / load


def test_sinusoidal_table_matches_the_formula():
    table = sinusoidal_position_table(50, 32)
    assert table.shape == (50, 32)
    for pos, i in [(0, 0), (7, 0), (7, 3), (49, 15)]:
        angle = pos / 10000 ** (2 * i / 32)
        assert table[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-5)
        assert table[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-5)
    assert sinusoidal_position_table(10, 7).shape == (10, 7)  # odd widths are supported


def test_position_table_is_not_saved(tmp_path):
    tiny_model().save_pretrained(tmp_path)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "model.safetensors"), framework="pt") as f:
        keys = set(f.keys())
    assert not any("position_table" in k for k in keys)
    assert "lm_head.weight" not in keys  # tied: stored once, as the embedding


def test_save_load_roundtrip(tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path)
    reloaded = CadenzaPerformerForMaskedLM.from_pretrained(tmp_path)
    assert not reloaded.training
    ids, *_ = performance_batch()
    torch.testing.assert_close(reloaded(ids).logits, model(ids).logits, atol=0, rtol=0)
    # the non-persistent sinusoidal buffer is rebuilt, not left as meta-device garbage
    fresh = sinusoidal_position_table(64, 32)
    torch.testing.assert_close(reloaded.performer.embeddings.position_table, fresh, atol=0, rtol=0)
    # tying survives the reload
    assert reloaded.lm_head.weight is reloaded.performer.embeddings.word_embeddings.weight
    assert reloaded.lm_head.weight.data_ptr() == reloaded.get_input_embeddings().weight.data_ptr()
    assert reloaded.config.velocity_token_ids == VELOCITY_IDS
    assert reloaded.config.microtiming_token_ids == MICROTIMING_IDS
    # the base encoder loads from the same checkpoint (prefix "performer")
    base = CadenzaPerformerModel.from_pretrained(tmp_path)
    torch.testing.assert_close(base.embeddings.position_table, fresh, atol=0, rtol=0)
    torch.testing.assert_close(base(ids).last_hidden_state, model.performer(ids).last_hidden_state)


def test_weights_are_tied_at_init():
    model = tiny_model()
    assert model.lm_head.weight is model.performer.embeddings.word_embeddings.weight
    untied = tiny_model(tie_word_embeddings=False)
    assert untied.lm_head.weight is not untied.performer.embeddings.word_embeddings.weight


# ---------------------------------------------------------------------------------------- fill_performance


def _restricted_argmax(model, ids, velocity_positions, microtiming_positions):
    """Reference: argmax of the logits restricted to each slot's family, computed position by position."""
    logits = model(ids).logits
    expected = ids.clone()
    for b, t in velocity_positions.nonzero().tolist():
        expected[b, t] = VELOCITY_IDS[logits[b, t, VELOCITY_IDS].argmax()]
    for b, t in microtiming_positions.nonzero().tolist():
        expected[b, t] = MICROTIMING_IDS[logits[b, t, MICROTIMING_IDS].argmax()]
    return expected


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_fill_performance_uses_the_right_family_and_keeps_other_tokens(temperature):
    model = tiny_model()
    ids, _, vel, mt, _ = performance_batch(batch=3, notes=6)
    filled = model.fill_performance(
        ids,
        velocity_positions=vel,
        microtiming_positions=mt,
        temperature=temperature,
        generator=torch.Generator().manual_seed(0),
    )
    assert filled.dtype == ids.dtype and filled.shape == ids.shape
    assert torch.isin(filled[vel], torch.tensor(VELOCITY_IDS)).all()
    assert torch.isin(filled[mt], torch.tensor(MICROTIMING_IDS)).all()
    assert torch.equal(filled[~(vel | mt)], ids[~(vel | mt)])
    assert (ids == MASK).sum() == 36 and (filled == MASK).sum() == 0  # input untouched, every slot filled


def test_fill_performance_argmax_is_deterministic_and_correct():
    model = tiny_model()
    ids, _, vel, mt, original = performance_batch(batch=2, notes=5)
    first = model.fill_performance(ids, velocity_positions=vel, microtiming_positions=mt)
    second = model.fill_performance(ids, velocity_positions=vel, microtiming_positions=mt)
    assert torch.equal(first, second)
    assert torch.equal(first, _restricted_argmax(model, ids, vel, mt))
    # slots are masked by the method itself: passing the original performance gives the same answer
    assert torch.equal(model.fill_performance(original, velocity_positions=vel, microtiming_positions=mt), first)


def test_iterative_fill_in_sequence_order_reads_its_own_earlier_choices():
    model = tiny_model()
    ids, _, vel, mt, _ = performance_batch(batch=2, notes=5)
    slots = vel | mt
    one_shot = model.fill_performance(ids, velocity_positions=vel, microtiming_positions=mt)
    assert torch.equal(model.fill_performance(ids, velocity_positions=vel, microtiming_positions=mt, steps=1), one_shot)
    got = model.fill_performance(ids, velocity_positions=vel, microtiming_positions=mt, steps=2, order="sequence")
    # reference: pass 1 commits the earliest n - floor(n cos(pi/4)) slots of each row from the all-masked input,
    # pass 2 fills the rest from the input with those committed
    expected = ids.clone()
    for b in range(ids.shape[0]):
        positions = slots[b].nonzero().squeeze(-1).tolist()
        first = positions[: len(positions) - math.floor(len(positions) * math.cos(math.pi / 4))]
        for t in first:
            expected[b, t] = one_shot[b, t]
    second = _restricted_argmax(model, expected, vel & (expected == MASK), mt & (expected == MASK))
    assert torch.equal(got, second)
    assert not torch.equal(got, one_shot)  # the later slots changed because they saw the earlier ones
    # with no `order`, the checkpoint's own config.unmask_order decides
    model.config.unmask_order = "sequence"
    assert torch.equal(model.fill_performance(ids, velocity_positions=vel, microtiming_positions=mt, steps=2), got)
    model.config.unmask_order = "confidence"
    by_confidence = model.fill_performance(ids, velocity_positions=vel, microtiming_positions=mt, steps=2)
    assert torch.equal(
        by_confidence,
        model.fill_performance(ids, velocity_positions=vel, microtiming_positions=mt, steps=2, order="confidence"),
    )


def test_interleaved_order_spreads_the_first_commits_and_fills_the_gaps_between_them():
    model = tiny_model()
    ids, _, vel, mt, _ = performance_batch(batch=2, notes=8)  # 16 slots per row, a note's two slots side by side
    kwargs = dict(velocity_positions=vel, microtiming_positions=mt, order="interleaved", schedule="linear")
    # 4 linear passes commit 4 slots (2 notes) each, in bit-reversed note order: notes 0 and 4, then 2 and 6,
    # then 1 and 5, then 3 and 7; each pass reads the notes committed before it
    expected = ids.clone()
    for notes in ((0, 4), (2, 6), (1, 5), (3, 7)):
        predicted = _restricted_argmax(model, expected, vel & (expected == MASK), mt & (expected == MASK))
        for n in notes:
            expected[:, 4 * n + 1 : 4 * n + 3] = predicted[:, 4 * n + 1 : 4 * n + 3]
    got = model.fill_performance(ids, steps=4, **kwargs)
    assert torch.equal(got, expected)
    # every pass predicts only the slots it commits, as in note order
    asked = []
    forward = model.forward
    model.forward = lambda *a, **k: asked.append(len(k["output_positions"])) or forward(*a, **k)
    model.fill_performance(ids, steps=4, **kwargs)
    del model.forward
    assert asked == [4, 4, 4, 4]
    model.config.unmask_order = "interleaved"  # the checkpoint's own order when the caller does not say
    assert torch.equal(
        model.fill_performance(ids, steps=4, velocity_positions=vel, microtiming_positions=mt, schedule="linear"), got
    )


def _van_der_corput_order(n: int) -> list[int]:
    """Reference for the interleaved order: 0..n-1 sorted by their bits read backwards (ties cannot occur)."""
    width = max(1, (n - 1).bit_length())
    return sorted(range(n), key=lambda k: int(format(k, f"0{width}b")[::-1], 2))


def test_interleaved_order_is_bit_reversed_per_row_and_family_in_a_mixed_batch():
    model = tiny_model()
    # row 0: 7 notes; row 1: 3 notes then padding; row 2: 5 notes whose velocities are kept (microtiming open only)
    ids, _, vel, mt, original = performance_batch(batch=3, notes=7)
    attention = torch.ones_like(ids)
    attention[1, 12:] = 0
    ids[1, 12:] = 0
    vel[1, 12:] = mt[1, 12:] = False
    ids[2, 20:] = 0
    attention[2, 20:] = 0
    vel[2, 20:] = mt[2, 20:] = False
    ids[2] = torch.where(vel[2], original[2], ids[2])  # kept velocities: not slots
    vel[2] = False
    committed_by_pass = []
    forward = model.forward

    def spy(*args, **kwargs):
        out = forward(*args, **kwargs)
        committed_by_pass.append((args[0] == MASK).clone())
        return out

    model.forward = spy
    filled = model.fill_performance(
        ids, attention, velocity_positions=vel, microtiming_positions=mt, steps=5, order="interleaved", temperature=1.0
    )
    del model.forward
    # the pass at which each slot was committed: the first pass whose input no longer masks it (or the last pass)
    masked = torch.stack(committed_by_pass)  # (passes, B, T): still masked before each pass
    when = masked.sum(0)  # passes each slot stayed masked before being committed
    for row, notes in ((0, 7), (1, 3), (2, 5)):
        for family in (vel[row], mt[row]):
            positions = family.nonzero().squeeze(-1).tolist()
            if not positions:
                continue
            order = _van_der_corput_order(len(positions))
            times = [int(when[row, positions[k]]) for k in order]
            assert times == sorted(times), (row, times)  # committed no earlier than the notes before it in the order
            assert len(positions) == notes
    assert not (filled == MASK).any()
    assert torch.equal(filled[2][~mt[2]], ids[2][~mt[2]])  # kept velocities and padding untouched


def test_linear_schedule_commits_the_same_share_each_pass():
    model = tiny_model()
    ids, _, vel, mt, _ = performance_batch(batch=2, notes=6)  # 12 slots per row
    slots = vel | mt
    kwargs = dict(velocity_positions=vel, microtiming_positions=mt, order="sequence")
    # 3 linear passes: the earliest 4 slots of each row from the all-masked input, then 4 more reading them, ...
    expected = ids.clone()
    for k in range(3):
        predicted = _restricted_argmax(model, expected, vel & (expected == MASK), mt & (expected == MASK))
        for b in range(ids.shape[0]):
            for t in slots[b].nonzero().squeeze(-1).tolist()[4 * k : 4 * (k + 1)]:
                expected[b, t] = predicted[b, t]
    assert torch.equal(model.fill_performance(ids, steps=3, schedule="linear", **kwargs), expected)
    model.config.unmask_schedule = "linear"  # the checkpoint's own schedule when the caller does not say
    assert torch.equal(model.fill_performance(ids, steps=3, **kwargs), expected)
    # the passes predict (in note order: commit) 4, 4, 4 slots per row; cosine ones 2, 4, 6
    asked = []
    forward = model.forward
    model.forward = lambda *a, **k: asked.append(len(k["output_positions"])) or forward(*a, **k)
    for schedule, counts in (("linear", [4, 4, 4]), ("cosine", [2, 4, 6])):
        asked.clear()
        model.fill_performance(ids, steps=3, schedule=schedule, **kwargs)
        assert asked == counts
    del model.forward
    with pytest.raises(ValueError, match="schedule"):
        model.fill_performance(ids, steps=3, schedule="exponential", **kwargs)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_iterative_fill_by_confidence_fills_every_slot_from_its_family(temperature):
    model = tiny_model()
    ids, _, vel, mt, _ = performance_batch(batch=3, notes=6)
    kwargs = dict(velocity_positions=vel, microtiming_positions=mt, temperature=temperature, steps=4)
    filled = model.fill_performance(ids, generator=torch.Generator().manual_seed(0), **kwargs)
    assert torch.isin(filled[vel], torch.tensor(VELOCITY_IDS)).all()
    assert torch.isin(filled[mt], torch.tensor(MICROTIMING_IDS)).all()
    assert torch.equal(filled[~(vel | mt)], ids[~(vel | mt)])
    again = model.fill_performance(ids, generator=torch.Generator().manual_seed(0), **kwargs)
    assert torch.equal(filled, again)  # seeded
    for bad in (dict(steps=0), dict(steps=1.5), dict(order="random")):
        with pytest.raises(ValueError, match="steps|order"):
            model.fill_performance(ids, velocity_positions=vel, microtiming_positions=mt, **bad)


def _restricted_median(model, ids, velocity_positions, microtiming_positions):
    """Reference: per slot, the first family bin whose cumulative probability reaches 1/2 (plain Python)."""
    logits = model(ids).logits
    expected = ids.clone()
    for family, positions in ((VELOCITY_IDS, velocity_positions), (MICROTIMING_IDS, microtiming_positions)):
        for b, t in positions.nonzero().tolist():
            total = 0.0
            for token, p in zip(family, logits[b, t, family].softmax(-1).tolist()):  # noqa: B007 (used after the loop)
                total += p
                if total >= 0.5:
                    break
            expected[b, t] = token
    return expected


def test_fill_performance_median_matches_the_cumulative_definition():
    model = tiny_model()
    ids, _, vel, mt, _ = performance_batch(batch=2, notes=6)
    median = model.fill_performance(ids, velocity_positions=vel, microtiming_positions=mt, point_estimate="median")
    assert torch.equal(median, _restricted_median(model, ids, vel, mt))
    assert torch.equal(median[~(vel | mt)], ids[~(vel | mt)])


def test_median_differs_from_argmax_on_a_two_peaked_slot():
    # probabilities 0.49 / 0.03 / 0.48 over three bins: the argmax is the first peak, the median the middle bin
    model = tiny_model(velocity_token_ids=[10, 11, 12])
    logits = torch.full((1, VOCAB), -30.0)
    logits[0, [10, 11, 12]] = torch.tensor([0.49, 0.03, 0.48]).log()
    assert model._family_estimate(logits, torch.tensor([True]), "median").tolist() == [11]
    assert logits[0, [10, 11, 12]].argmax().item() == 0


def test_mean_estimate_is_the_bin_nearest_the_expected_index():
    # bins 0..3 with probabilities .4/.3/.2/.1: expected index 1.0 -> bin 1; .1/.1/.1/.7: 2.4 -> bin 2
    model = tiny_model(velocity_token_ids=[10, 11, 12, 13])
    logits = torch.full((2, VOCAB), -30.0)
    logits[0, [10, 11, 12, 13]] = torch.tensor([0.4, 0.3, 0.2, 0.1]).log()
    logits[1, [10, 11, 12, 13]] = torch.tensor([0.1, 0.1, 0.1, 0.7]).log()
    assert model._family_estimate(logits, torch.tensor([True, True]), "mean").tolist() == [11, 12]
    ids, _, vel, mt, _ = performance_batch(batch=2, notes=6)
    filled = model.fill_performance(ids, velocity_positions=vel, microtiming_positions=mt, point_estimate="mean")
    assert torch.equal(filled[~(vel | mt)], ids[~(vel | mt)])


def test_point_estimate_is_checked():
    model = tiny_model()
    ids, _, vel, mt, _ = performance_batch()
    with pytest.raises(ValueError, match="point_estimate"):
        model.fill_performance(ids, velocity_positions=vel, microtiming_positions=mt, point_estimate="mode")


def test_fill_performance_sampling_is_seeded():
    model = tiny_model()
    ids, _, vel, mt, _ = performance_batch(batch=2, notes=6)

    def sample(seed, **kwargs):
        return model.fill_performance(
            ids,
            velocity_positions=vel,
            microtiming_positions=mt,
            temperature=1.0,
            generator=torch.Generator().manual_seed(seed),
            **kwargs,
        )

    assert torch.equal(sample(0), sample(0))
    assert not torch.equal(sample(0), sample(1))
    # a vanishing nucleus keeps only the most likely allowed token: sampling collapses to argmax
    argmax = model.fill_performance(ids, velocity_positions=vel, microtiming_positions=mt)
    assert torch.equal(sample(0, top_p=1e-6), argmax)
    assert torch.equal(sample(1, top_p=1e-6), argmax)


def test_fill_performance_respects_padding():
    model = tiny_model()
    ids, _, vel, mt, _ = performance_batch(batch=2, notes=4)  # (2, 16)
    padded, attention_mask = ids.clone(), torch.ones_like(ids)
    padded[0, 12:], attention_mask[0, 12:] = PAD, 0
    vel_p, mt_p = vel.clone(), mt.clone()
    vel_p[0, 12:], mt_p[0, 12:] = False, False
    filled = model.fill_performance(padded, attention_mask, velocity_positions=vel_p, microtiming_positions=mt_p)
    alone = model.fill_performance(ids[:1, :12], velocity_positions=vel[:1, :12], microtiming_positions=mt[:1, :12])
    assert torch.equal(filled[0, :12], alone[0])
    assert torch.equal(filled[0, 12:], padded[0, 12:])


def test_fill_performance_errors():
    model = tiny_model()
    ids, _, vel, mt, _ = performance_batch()
    with pytest.raises(ValueError, match="velocity_positions"):
        model.fill_performance(ids)
    with pytest.raises(ValueError, match="microtiming_positions"):
        model.fill_performance(ids, velocity_positions=vel)
    with pytest.raises(ValueError, match="overlap"):
        model.fill_performance(ids, velocity_positions=vel, microtiming_positions=vel)
    with pytest.raises(ValueError, match="bool tensor"):
        model.fill_performance(ids, velocity_positions=vel.long(), microtiming_positions=mt)
    with pytest.raises(ValueError, match="temperature"):
        model.fill_performance(ids, velocity_positions=vel, microtiming_positions=mt, temperature=-1.0)
    empty = tiny_model(velocity_token_ids=[])
    with pytest.raises(ValueError, match="velocity_token_ids"):
        empty.fill_performance(ids, velocity_positions=vel, microtiming_positions=mt)


# ----------------------------------------------------------------------------------------------------- Trainer


def _trainer_logged_loss(model, rows, batch_size, grad_accum, output_dir):
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=grad_accum,
        max_steps=1,
        logging_steps=1,
        learning_rate=1e-4,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = Trainer(model=model, args=args, train_dataset=rows)
    trainer.train()
    return next(log["loss"] for log in trainer.state.log_history if "loss" in log)


def test_trainer_gradient_accumulation_keeps_the_loss_scale(tmp_path):
    # 4 rows, each with the same number of labelled slots, so the GA=2 mean of means equals the GA=1 mean
    ids, labels, *_ = performance_batch(batch=4, notes=3)
    rows = [{"input_ids": i, "attention_mask": torch.ones_like(i), "labels": lab} for i, lab in zip(ids, labels)]
    expected = tiny_model()(ids, labels=labels).loss.item()
    ga1 = _trainer_logged_loss(tiny_model(), rows, batch_size=4, grad_accum=1, output_dir=tmp_path / "ga1")
    ga2 = _trainer_logged_loss(tiny_model(), rows, batch_size=2, grad_accum=2, output_dir=tmp_path / "ga2")
    assert ga1 == pytest.approx(expected, abs=1e-3)
    assert ga2 == pytest.approx(ga1, abs=1e-3)  # the known trap would log 2x here


# ------------------------------------------------------------------------------------------------------ config


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(hidden_size=30, num_attention_heads=4), "(30)"),
        (dict(velocity_token_ids=[10, 400]), "[400]"),
        (dict(microtiming_token_ids=[-1]), "[-1]"),
        (dict(velocity_token_ids=[10, 11], microtiming_token_ids=[11, 12]), "[11]"),
        (dict(velocity_token_ids=[MASK]), "[3]"),
        (dict(velocity_token_ids=[10, 10]), "duplicate"),
        (dict(mask_token_id=VOCAB), str(VOCAB)),
        (dict(num_hidden_layers=0), "got 0"),
        (dict(hidden_dropout=1.5), "1.5"),
        (dict(unmask_schedule="exponential"), "'exponential'"),
    ],
)
def test_config_validation_raises_quoting_the_value(overrides, message):
    with pytest.raises(StrictDataclassClassValidationError) as info:
        tiny_config(**overrides)
    # @strict wraps the ValueError raised by validate_architecture
    assert isinstance(info.value.__cause__, ValueError)
    assert message in str(info.value.__cause__)


def test_config_validate_architecture_raises_value_error_directly():
    config = tiny_config()
    config.num_attention_heads = 5  # setattr checks the type only
    with pytest.raises(ValueError, match=r"\(32\).*\(5\)"):
        config.validate_architecture()


def test_config_type_checks_and_roundtrip(tmp_path):
    with pytest.raises(StrictDataclassFieldValidationError):
        CadenzaPerformerConfig(hidden_size="abc")
    config = tiny_config()
    config.save_pretrained(tmp_path)
    reloaded = CadenzaPerformerConfig.from_pretrained(tmp_path)
    assert reloaded.to_dict() == config.to_dict()
    default = CadenzaPerformerConfig()
    assert (default.vocab_size, default.mask_token_id, default.pad_token_id) == (320, 3, 0)
    assert default.velocity_token_ids == []
    assert default.velocity_token_ids is not CadenzaPerformerConfig().velocity_token_ids  # no shared mutable default


def test_presets():
    paper = CadenzaPerformerConfig.from_preset("paper")
    assert (paper.num_hidden_layers, paper.num_attention_heads, paper.hidden_size) == (12, 12, 768)
    assert (paper.intermediate_size, paper.hidden_dropout) == (3072, 0.1)
    small = CadenzaPerformerConfig.from_preset("small", vocab_size=100)
    assert (small.num_hidden_layers, small.hidden_size, small.vocab_size) == (4, 256, 100)
    assert set(PERFORMER_PRESETS) == {"paper", "small"}
    with pytest.raises(ValueError, match="'huge'"):
        CadenzaPerformerConfig.from_preset("huge")


def _expected_param_count(c: CadenzaPerformerConfig) -> int:
    d, i, v = c.hidden_size, c.intermediate_size, c.vocab_size
    layer = (3 * d * d + 3 * d) + (d * d + d) + (d * i + i) + (i * d + d) + 2 * 2 * d  # qkv, out, mlp, 2 norms
    local = d * c.local_context_size + d if c.local_context_size else 0  # depthwise conv weight + bias
    return v * d + local + 2 * d + c.num_hidden_layers * layer + v  # embeddings, conv, LayerNorm, layers, head bias


@pytest.mark.parametrize("preset, low, high", [("paper", 84e6, 87e6), ("small", 3.0e6, 3.5e6)])
def test_preset_param_counts_on_meta_device(preset, low, high):
    config = CadenzaPerformerConfig.from_preset(preset)
    with torch.device("meta"):
        model = CadenzaPerformerForMaskedLM(config)
    n_params = sum(p.numel() for p in model.parameters())  # tied weights are counted once
    assert n_params == _expected_param_count(config)
    assert low < n_params < high


@pytest.mark.parametrize("module_name", ["configuration_performer", "modeling_performer"])
def test_docstring_examples_run(module_name):
    import doctest
    import importlib

    module = importlib.import_module(f"cadenza_hf.modeling.performer.{module_name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_fill_performance_without_slots_returns_the_input():
    model = tiny_model()
    ids, *_ = performance_batch()
    none = torch.zeros_like(ids, dtype=torch.bool)
    for temperature in (0.0, 1.0):
        filled = model.fill_performance(
            ids, velocity_positions=none, microtiming_positions=none, temperature=temperature
        )
        assert torch.equal(filled, ids) and filled is not ids


def test_local_context_sees_neighbours_and_ignores_padding():
    config = CadenzaPerformerConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        velocity_token_ids=[10, 11],
        microtiming_token_ids=[20, 21],
    )
    model = CadenzaPerformerModel(config).eval()
    conv = model.embeddings.local_context
    assert conv.kernel_size == (5,) and conv.groups == 32
    assert 0.3 < conv.weight.std().item() < 0.6  # 1/sqrt(5): loud enough to matter from step one
    ids = torch.tensor([[1, 30, 3, 3, 31, 3, 3, 2]])
    other = ids.clone()
    other[0, 1] = 40  # change the note just before the first masked slot
    with torch.no_grad():
        emb, emb_other = model.embeddings(ids), model.embeddings(other)
    assert not torch.allclose(emb[0, 2], emb_other[0, 2])  # the slot sees its note without attention
    assert torch.allclose(emb[0, 7], emb_other[0, 7])  # out of reach (5 wide)
    # padding after the sequence does not change the real tokens' embeddings
    padded = torch.tensor([[1, 30, 3, 3, 31, 3, 3, 2, 0, 0]])
    mask = torch.tensor([[1] * 8 + [0, 0]])
    model.embeddings.word_embeddings.weight.data[0] = 5.0  # a trained, tied PAD row is not zero
    with torch.no_grad():
        short = model.embeddings(ids)
        long = model.embeddings(padded, attention_mask=mask)
    assert torch.allclose(short, long[:, :8], atol=1e-5)
    off = CadenzaPerformerConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        local_context_size=0,
    )
    assert CadenzaPerformerModel(off).embeddings.local_context is None
    with pytest.raises(StrictDataclassClassValidationError, match="local_context_size"):
        CadenzaPerformerConfig(local_context_size=4)


# ---------------------------------------------------------------------------- names before issue 13


def _legacy_state_dict(model) -> dict:
    """`model`'s weights under the pre-issue-13 names: fused `qkv_proj`, `out_proj`, `fc1`/`fc2`."""
    legacy = {}
    for key, tensor in model.state_dict().items():
        if ".attention.k_proj." in key or ".attention.v_proj." in key:
            continue
        if ".attention.q_proj." in key:
            parts = [model.state_dict()[key.replace("q_proj", n)] for n in ("q_proj", "k_proj", "v_proj")]
            legacy[key.replace("q_proj", "qkv_proj")] = torch.cat(parts, dim=0)
            continue
        key = key.replace("o_proj", "out_proj").replace("fc_in", "fc1").replace("fc_out", "fc2")
        legacy[key] = tensor.clone()
    return legacy


def test_legacy_checkpoints_convert_and_load(tmp_path):
    from safetensors.torch import load_file, save_file

    from cadenza_hf.hub.legacy import convert_legacy_checkpoint, is_legacy_checkpoint
    from cadenza_hf.modeling.performer import convert_legacy_state_dict
    from cadenza_hf.pipelines.performers import load_performer

    model = tiny_model(seed=3)
    ids, *_ = performance_batch()
    expected = model(ids).logits
    legacy = _legacy_state_dict(model)
    assert any("qkv_proj" in k for k in legacy) and not any("q_proj" in k.replace("qkv_proj", "") for k in legacy)
    converted = convert_legacy_state_dict(legacy)
    assert set(converted) == set(model.state_dict())
    assert convert_legacy_state_dict(converted).keys() == converted.keys()  # today's names pass through
    # a folder saved before issue 13: old weight names and old dropout names in config.json
    old = tmp_path / "old"
    model.save_pretrained(old)
    save_file({k: v.contiguous() for k, v in legacy.items() if k != "lm_head.weight"}, str(old / "model.safetensors"))
    config = json.loads((old / "config.json").read_text())
    config["hidden_dropout_prob"], config["attention_probs_dropout_prob"] = config.pop("hidden_dropout"), 0.0
    config.pop("attention_dropout")
    (old / "config.json").write_text(json.dumps(config))
    assert is_legacy_checkpoint(old)
    with pytest.raises(ValueError, match="convert_legacy_checkpoint"):  # never a half-random model
        CadenzaPerformerForMaskedLM.from_pretrained(old)
    loaded = load_performer(old).eval()  # the pipelines' loader converts a copy on the fly
    assert loaded.name_or_path == str(old)
    torch.testing.assert_close(loaded(ids).logits, expected)
    new = convert_legacy_checkpoint(old, tmp_path / "new")
    assert not is_legacy_checkpoint(new)
    assert "hidden_dropout" in json.loads((new / "config.json").read_text())
    assert not any("qkv_proj" in k for k in load_file(str(new / "model.safetensors")))
    torch.testing.assert_close(CadenzaPerformerForMaskedLM.from_pretrained(new).eval()(ids).logits, expected)
