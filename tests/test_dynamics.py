"""Issue 16: per-bar dynamics levels (one player in one mood): reading them off ids, the collator, sampling a
level walk, and a dynamics-conditioned performer end to end (tiny random model)."""

from __future__ import annotations

import pytest
import symusic
import torch

from cadenza_hf.data.collators import PerformerCollator
from cadenza_hf.tokenization.dynamics import bar_indices, bar_levels, level_statistics, token_levels, velocity_level

BAR, V40, V100 = 1, 10, 11
VALUES = {V40: 40, V100: 100}


def test_bar_indices_and_levels_from_ids():
    ids = [99, BAR, 5, V40, 5, V40, BAR, BAR, 5, V100, 98]  # bar 1 is empty
    assert bar_indices(ids, BAR) == [0, 0, 0, 0, 0, 0, 1, 2, 2, 2, 2]
    assert velocity_level(40, 16, 8) == 5 and velocity_level(127, 16, 8) == 15 and velocity_level(0, 16, 8) == 0
    assert bar_levels(ids, BAR, VALUES, 16, 8) == [5, 5, 12]  # the empty bar keeps the level before it
    assert token_levels(ids, BAR, VALUES, 16, 8) == [6] * 6 + [6] + [13] * 4  # 1 + level; 0 is "unknown"
    assert token_levels([BAR, 5, BAR, 5], BAR, VALUES, 16, 8) == [0, 0, 0, 0]  # no velocities: unknown


def test_level_statistics_count_first_levels_and_changes():
    rows = [[BAR, V40, BAR, V100], [BAR, V40, BAR, V40]]
    start, step = level_statistics(rows, BAR, VALUES, 16, 8, max_step=2)
    assert len(start) == 16 and len(step) == 5 and sum(start) == pytest.approx(1) and sum(step) == pytest.approx(1)
    assert start[5] == max(start) == pytest.approx(3 / 18)  # both rows start at level 5 (add-one smoothing)
    assert step[2] == step[4] == pytest.approx(2 / 7)  # one "no change", one +7 counted at +2


def test_collator_gives_level_ids_of_the_real_performance(tokenizer):
    score = symusic.Score(480)
    track = symusic.Track(program=0)
    for k in range(8):  # bar 0 soft, bar 1 loud
        track.notes.append(symusic.Note(k * 480, 240, 60 + k, 30 if k < 4 else 110))
    score.tracks.append(track)
    ids = tokenizer.encode_midi(score, track=0, start_bar=0, bars=2)
    batch = PerformerCollator(tokenizer, dynamics_levels=16, dynamics_dropout=0.0)([{"input_ids": ids}])
    levels = batch["level_ids"][0].tolist()
    assert batch["level_ids"].shape == batch["input_ids"].shape
    bars = bar_indices(ids, tokenizer.bar_token_id)
    assert {lv for lv, b in zip(levels, bars) if b == 0} == {1 + velocity_level(30, 16, 8)}
    assert {lv for lv, b in zip(levels, bars) if b == 1} == {1 + velocity_level(110, 16, 8)}
    dropped = PerformerCollator(tokenizer, dynamics_levels=16, dynamics_dropout=1.0)([{"input_ids": ids}])
    assert not dropped["level_ids"].any()
    assert "level_ids" not in PerformerCollator(tokenizer)([{"input_ids": ids}])  # off by default (paper)


def _dynamics_performer(tokenizer, **extra):
    from .tiny_models import tiny_performer

    levels = dict(dynamics_levels=4, dynamics_start_probs=[0.0, 0.0, 1.0, 0.0], dynamics_step_probs=[0.5, 0.0, 0.5])
    return tiny_performer(tokenizer, **{**levels, **extra})


def test_sample_level_ids_walks_per_bar_and_is_seeded(tokenizer):
    model = _dynamics_performer(tokenizer)
    bars = torch.tensor([[0, 0, 1, 1, 2, 2, -1], [0, 1, 1, 2, 3, 3, 3]])
    a = model.sample_level_ids(bars, 1.0, torch.Generator().manual_seed(1))
    b = model.sample_level_ids(bars, 1.0, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a[0, -1] == 0  # seeded; padding unknown
    assert (a[:, 0] == 3).all()  # first bar: level 2 (+1), the only one with mass
    for row, bar in zip(a, bars):
        per_bar = [row[bar == k][0].item() for k in range(int(bar.max()) + 1)]
        assert all(abs(x - y) == 1 or {x, y} <= {1, 4} for x, y in zip(per_bar, per_bar[1:]))  # +-1, clipped
        assert all(len(set(row[bar == k].tolist())) == 1 for k in range(int(bar.max()) + 1))  # one level per bar
    flat = model.sample_level_ids(bars, 0.0)
    assert set(flat[bars >= 0].tolist()) == {3}


def test_dynamics_embedding_starts_at_zero_when_added_to_a_trained_performer(tokenizer, tmp_path):
    from cadenza_hf import CadenzaPerformerForMaskedLM

    plain = _dynamics_performer(tokenizer, local_context_size=5)
    plain.config.dynamics_levels, plain.config.dynamics_start_probs, plain.config.dynamics_step_probs = 0, [], []
    base = CadenzaPerformerForMaskedLM(plain.config).eval()
    base.save_pretrained(tmp_path)
    grown = CadenzaPerformerForMaskedLM.from_pretrained(
        tmp_path, dynamics_levels=4, dynamics_start_probs=[0.25] * 4, dynamics_step_probs=[1.0]
    ).eval()
    assert not grown.performer.embeddings.dynamics.weight.any()
    ids = torch.tensor([[tokenizer.bar_token_id, 5, tokenizer.mask_token_id, 7]])
    same = base(ids).logits, grown(ids, level_ids=torch.tensor([[1, 2, 3, 4]])).logits
    assert torch.allclose(*same, atol=1e-6)  # a no-op until trained


def test_fill_performance_ids_draws_levels_or_keeps_the_users(tokenizer):
    from cadenza_hf.generation.performance import _level_ids, fill_performance_ids

    model = _dynamics_performer(tokenizer)
    score = symusic.Score(480)
    track = symusic.Track(program=0)
    for k in range(8):
        track.notes.append(symusic.Note(k * 480, 240, 60 + k % 3, 50 + 8 * k))
    score.tracks.append(track)
    ids = tokenizer.encode_midi(score, track=0, start_bar=0, bars=2)
    g = torch.Generator().manual_seed(0)
    (out,) = fill_performance_ids(model, tokenizer, [ids], temperature=1.0, generator=g, steps=2)
    assert len(out) == len(ids) and tokenizer.composition_ids(out) == tokenizer.composition_ids(ids)
    kept = torch.tensor([token_levels(ids, tokenizer.bar_token_id, tokenizer.velocity_values, 4, 8)])
    bars = torch.tensor([bar_indices(ids, tokenizer.bar_token_id)])
    assert torch.equal(_level_ids(model, bars, kept, 1.0, g), kept)  # the user's own velocities set the levels
    drawn = _level_ids(model, bars, torch.zeros_like(kept), 0.0, None)
    assert set(drawn[0].tolist()) == {3}
