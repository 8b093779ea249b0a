"""Issue 16: the performer's metric-position embedding (each note's place in the bar, computed from the
TimeShift and Bar tokens inside the model), its warm start onto a trained performer and its config checks."""

from __future__ import annotations

import pytest
import symusic
import torch


def _metric_fields(tokenizer, grid: int = 12) -> dict:
    from cadenza_hf.training.performer import DataArguments as PerformerData
    from cadenza_hf.training.performer import metric_config

    return metric_config(PerformerData(metric_grid=grid), tokenizer)


def _metric_performer(tokenizer, **extra):
    from .tiny_models import tiny_performer

    return tiny_performer(tokenizer, **{**_metric_fields(tokenizer), **extra})


def test_metric_positions_follow_each_notes_onset_in_its_bar(tokenizer):
    tpq = 480
    onsets = [0, 120, 160, 480, 1440 + 360, 1920, 1920 + 240, 1920 + 320 * 3]  # 16th, triplet 8th, bar 2
    score = symusic.Score(tpq)
    track = symusic.Track(program=0)
    for k, t in enumerate(onsets):
        track.notes.append(symusic.Note(t, 60, 60 + k, 80))
    score.tracks.append(track)
    ids = tokenizer.encode_midi(score, track=0, start_bar=0, bars=2)
    model = _metric_performer(tokenizer)
    got = model.performer.embeddings.metric_position_ids(torch.tensor([ids]))[0].tolist()
    pitch_slots = [k for k, i in enumerate(ids) if tokenizer.ids_to_tokens[i].startswith("Pitch_")]
    assert len(pitch_slots) == len(onsets)
    bar = 4 * tpq
    expected = [1 + (t % bar // tpq) * 12 + (t % tpq) * 12 // tpq for t in onsets]
    assert [got[k] for k in pitch_slots] == expected == [1, 4, 5, 13, 46, 1, 7, 25]
    # every token of a note shares its onset's position; padding is 0
    for k in pitch_slots:
        assert got[k + 1] == got[k]
    padded = model.performer.embeddings.metric_position_ids(
        torch.tensor([ids + [tokenizer.pad_token_id]]), torch.tensor([[1] * len(ids) + [0]])
    )
    assert padded[0, -1] == 0 and padded[0, :-1].tolist() == got


def test_metric_embedding_starts_at_zero_when_added_to_a_trained_performer(tokenizer, tmp_path):
    from cadenza_hf import CadenzaPerformerForMaskedLM

    from .tiny_models import tiny_performer

    base = tiny_performer(tokenizer, local_context_size=5).eval()
    base.save_pretrained(tmp_path)
    grown = CadenzaPerformerForMaskedLM.from_pretrained(tmp_path, **_metric_fields(tokenizer)).eval()
    assert grown.config.metric_grid == 12 and not grown.performer.embeddings.metric.weight.any()
    shifts = tokenizer.time_shift_ticks
    table = grown.performer.embeddings.shift_ticks
    assert all(table[i] == t for i, t in shifts.items()) and int(table.sum()) == sum(shifts.values())
    ids = torch.tensor([[tokenizer.bar_token_id, 5, tokenizer.mask_token_id, next(iter(shifts)), 7]])
    assert torch.allclose(base(ids).logits, grown(ids).logits, atol=1e-6)  # a no-op until trained
    grown.save_pretrained(tmp_path / "grown")
    again = CadenzaPerformerForMaskedLM.from_pretrained(tmp_path / "grown").eval()
    assert torch.equal(again.performer.embeddings.shift_ticks, table)  # rebuilt from the config on load


@pytest.mark.parametrize(
    "bad",
    [
        dict(metric_grid=12),  # no token lists
        dict(metric_grid=-1),
        dict(metric_beats=0),
        dict(time_shift_token_ids=[40], time_shift_ticks=[]),
        dict(time_shift_token_ids=[40], time_shift_ticks=[0]),
    ],
)
def test_metric_config_is_checked(bad):
    from huggingface_hub.errors import StrictDataclassClassValidationError, StrictDataclassFieldValidationError

    from cadenza_hf.modeling.performer import CadenzaPerformerConfig

    with pytest.raises(
        (StrictDataclassClassValidationError, StrictDataclassFieldValidationError), match="metric|time_shift"
    ):
        CadenzaPerformerConfig(**bad)
