"""Composer evaluation (paper Table 2 metrics) and the composer evaluation / benchmark scripts."""

from __future__ import annotations

import json
import math
from importlib import import_module
from pathlib import Path

import numpy as np
import pytest
import symusic
import torch

from cadenza_hf.evaluation.similarity import (
    absolute_similarity,
    cosine_similarity,
    num_onset_bins,
    quantize,
    similarity,
)

from .midi_factory import copy_pop909
from .script_loader import load_script

TEST_SONGS = ["014", "125"]  # POP909 songs in the test split; 014 is in 12/8
TINY = {
    "hidden_size": 32,
    "num_encoder_layers": 1,
    "num_decoder_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "latent_size": 8,
}
Q, S = 480, 120  # ticks per quarter and per 16th


def notes(*rows):
    """(time, duration, pitch) rows in ticks at 480 per quarter."""
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


# ---- metrics on hand-made note lists ----------------------------------------------------
def test_identical_notes_score_100():
    a = notes((0, 4 * S, 60), (4 * S, 2 * S, 64), (4 * S, 2 * S, 67), (40 * S, 8 * S, 72))
    assert similarity(a, a).to_dict() == {"pitch": 100.0, "onset": 100.0, "duration": 100.0, "absolute": 100.0}


def test_disjoint_pitches():
    a = notes((0, S, 60), (4 * S, S, 62))
    b = notes((0, S, 61), (4 * S, S, 63))
    s = similarity(a, b)
    assert (s.pitch, s.onset, s.duration, s.absolute) == (0.0, 100.0, 100.0, 0.0)


def test_partial_overlaps_give_exact_values():
    a = notes((0, 4 * S, 60), (4 * S, 4 * S, 62))
    s = similarity(a, notes((0, 4 * S, 60), (4 * S, 4 * S, 64)))  # one pitch changed
    assert s.pitch == pytest.approx(50.0) and s.onset == 100.0 and s.absolute == pytest.approx(50.0)
    s = similarity(a, notes((0, 4 * S, 60), (5 * S, 4 * S, 62)))  # one onset moved by a 16th
    assert s.onset == pytest.approx(50.0) and s.pitch == 100.0 and s.absolute == pytest.approx(50.0)
    s = similarity(a, notes((0, 4 * S, 60), (4 * S, 8 * S, 62)))  # one duration doubled: [2 0] . [1 1]
    assert s.duration == pytest.approx(100 / math.sqrt(2)) and s.absolute == pytest.approx(50.0)
    # pitch counts (2, 1) vs (1, 2): 4 / 5
    s = similarity(notes((0, S, 60), (S, S, 60), (2 * S, S, 62)), notes((0, S, 60), (S, S, 62), (2 * S, S, 62)))
    assert s.pitch == pytest.approx(80.0)


def test_absolute_is_multiset_intersection_over_the_larger_count():
    one = notes((0, S, 60))
    assert similarity(np.repeat(one, 3, axis=0), one).absolute == pytest.approx(100 / 3)
    a = notes((0, S, 60), (S, S, 62))
    extra = np.concatenate([a, notes((2 * S, S, 64), (3 * S, S, 65))])
    assert similarity(a, extra).absolute == pytest.approx(50.0)  # copying plus adding is not identical
    assert similarity(extra, a).absolute == pytest.approx(50.0)  # symmetric
    # quantized to the nearest 16th: 10 ticks early and 20 ticks longer is still the same note
    assert similarity(notes((4 * S, 2 * S, 60)), notes((4 * S - 10, 2 * S + 20, 60))).absolute == 100.0


def test_empty_sides_give_zero_not_nan():
    a = notes((0, S, 60))
    for x, y in ((a, []), ([], a), ([], [])):
        values = similarity(x, y).to_dict()
        assert values == {"pitch": 0.0, "onset": 0.0, "duration": 0.0, "absolute": 0.0}
    assert cosine_similarity(np.zeros(4), np.ones(4)) == 0.0


def test_quantization_and_bins():
    assert num_onset_bins(4, (4, 4)) == 64
    assert num_onset_bins(4, (3, 4)) == 48
    assert num_onset_bins(4, (12, 8)) == 96
    assert num_onset_bins(2, (4, 4)) == 32
    q = quantize(notes((160, 30, 60), (-20, S, 61), (70 * S, 200 * Q, 62)), Q, 64)
    # triplet 8th onset -> nearest 16th 1; a 30-tick note -> 1 16th; early onset -> 0; late -> last bin
    assert q.tolist() == [[60, 1, 1], [61, 0, 1], [62, 63, 800]]
    long_note = similarity(notes((0, 100 * Q, 60)), notes((0, 17 * Q, 60)))  # both past 64 16ths: last bin
    assert long_note.duration == 100.0 and long_note.absolute == 0.0
    # in 3/4 a note at 16th 50 of a 4-bar excerpt (48 bins) lands in the last bin
    assert similarity(notes((50 * S, S, 60)), notes((47 * S, S, 60)), time_signature=(3, 4)).onset == 100.0


def test_scores_at_any_resolution():
    rows = notes((0, 4 * S, 60), (6 * S, 2 * S, 64), (12 * S, S, 67))
    score = symusic.Score(960)
    track = symusic.Track()
    track.notes = symusic.Note.from_numpy(rows[:, 0] * 2, rows[:, 1] * 2, rows[:, 2], np.full(3, 80))
    score.tracks.append(track)
    assert similarity(score, rows).to_dict() == similarity(rows, rows).to_dict()
    other = notes((0, 4 * S, 60), (6 * S, 2 * S, 64), (12 * S, S, 68))
    assert similarity(score, other).absolute == pytest.approx(200 / 3)
    assert absolute_similarity(quantize(rows, Q, 64), quantize(other, Q, 64)) == pytest.approx(200 / 3)


# ---- the evaluation script -------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_composer(tmp_path_factory) -> Path:
    """A tiny random composer saved with its tokenizer."""
    from cadenza_hf import CadenzaComposerConfig, CadenzaComposerModel, PerTokTokenizer

    tok = PerTokTokenizer()
    torch.manual_seed(0)
    config = CadenzaComposerConfig(
        vocab_size=tok.vocab_size,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        **TINY,
    )
    out = tmp_path_factory.mktemp("tiny_composer")
    CadenzaComposerModel(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_dataset(data_dir, tmp_path_factory) -> Path:
    """A DatasetDict saved to disk from two POP909 test-split songs."""
    from cadenza_hf.data import build_dataset

    root = tmp_path_factory.mktemp("pop")
    pop = copy_pop909(data_dir, root, TEST_SONGS)
    dataset, _ = build_dataset([str(pop)], cache_dir=str(root / "cache"))
    assert len(dataset["test"]) > 0
    dataset.save_to_disk(str(root / "ds"))
    return root / "ds"


def test_evaluate_script_end_to_end(tiny_composer, tiny_dataset, tmp_path, capsys):
    evaluate = import_module("cadenza_hf.evaluation.evaluate_composer")
    md, js = tmp_path / "benchmarks.md", tmp_path / "eval.json"
    md.write_text("# Benchmarks\n\n<!-- other:start -->\nkept\n<!-- other:end -->\n", encoding="utf-8")
    argv = [
        "--model",
        str(tiny_composer),
        "--dataset_dir",
        str(tiny_dataset),
        "--num-excerpts",
        "6",
        "--strengths",
        "0",
        "0.5",
        "1",
        "--max-new-tokens",
        "160",
        "--output-json",
        str(js),
        "--markdown",
        str(md),
    ]
    result = evaluate.main(argv)

    assert [r["strength"] for r in result["rows"]] == [0.0, 0.5, 1.0]
    for row in result["rows"]:
        assert row["n"] == 6 and row["valid_share"] == 1.0 and row["empty_share"] == 0.0
        assert all(0.0 <= row[m] <= 100.0 for m in evaluate.METRICS)
        assert row["seconds"] > 0 and row["tokens_per_second"] > 0
    meters = {e["time_signature"] for e in result["excerpts"]}
    assert meters == {"4/4", "12/8"} and len(result["per_excerpt"]["0.5"]) == 6
    assert {c["result"] for c in result["checks"]} <= {"PASS", "FAIL"}  # 0 and 0.5 were both measured
    assert json.loads(js.read_text(encoding="utf-8"))["rows"] == result["rows"]
    text = md.read_text(encoding="utf-8")
    assert text.count(evaluate.START_MARK) == 1 and "kept" in text and "| 0.5 | 6 |" in text
    assert "### Latent use" in text and set(result["latent_use"]["conditions"]) == set(evaluate.LATENT_CONDITIONS)
    evaluate.write_section(md, "## Composer evaluation\n\nnew")  # a refresh replaces the section only
    text = md.read_text(encoding="utf-8")
    assert text.count(evaluate.START_MARK) == 1 and "new" in text and "| 0.5 | 6 |" not in text and "kept" in text
    out = capsys.readouterr().out
    assert out.startswith("# ") and "-m cadenza_hf.evaluation.evaluate_composer --model" in out.splitlines()[0]


def test_scoring_an_output_equal_to_its_input(tiny_composer, tiny_dataset):
    evaluate = import_module("cadenza_hf.evaluation.evaluate_composer")
    args = evaluate.parse_args(["--dataset_dir", str(tiny_dataset), "--num-excerpts", "3"])
    _, tok = evaluate.load_composer(str(tiny_composer))
    ideas, _ = evaluate.load_ideas(args, tok)
    for idea in ideas:
        rec = evaluate.score_pair(tok, idea, idea.ids)
        assert rec["valid"] and rec["notes_in"] == rec["notes_out"] > 0
        assert [rec[m] for m in evaluate.METRICS] == [100.0] * 4
        assert not evaluate.is_valid(tok, idea, idea.ids[:-1])  # no EOS
        assert not evaluate.is_valid(
            tok, idea, [tok.bos_token_id] + [tok.convert_tokens_to_ids("Bar_None")] * idea.bars + [tok.eos_token_id]
        )  # no notes: read_midi refuses it


def test_latent_use_measures_what_z_tells_the_decoder(tiny_composer, tiny_dataset):
    evaluate = import_module("cadenza_hf.evaluation.evaluate_composer")
    args = evaluate.parse_args(["--dataset_dir", str(tiny_dataset), "--num-excerpts", "5"])
    model, tok = evaluate.load_composer(str(tiny_composer))
    ideas, _ = evaluate.load_ideas(args, tok)
    mean, logvar = evaluate.encode_ideas(model, tok, ideas, 2)
    use = evaluate.latent_use(model, tok, ideas, mean, logvar, batch_size=2)
    own = use["conditions"]["own z"]
    # own z: the model's summed reconstruction NLL, per excerpt, whatever the batching
    ids, mask = evaluate.pad_batch([i.ids for i in ideas], tok.pad_token_id)
    with torch.no_grad():
        ref = model(input_ids=ids, attention_mask=mask, latent=mean, labels=ids.masked_fill(mask == 0, -100))
    assert own["nll_per_excerpt"] == pytest.approx(float(ref.reconstruction_loss), rel=1e-4)
    assert 0.0 <= own["pitch_accuracy"] <= 1.0 and use["kl_nats_per_excerpt"] > 0
    nlls = {c: v["nll_per_excerpt"] for c, v in use["conditions"].items()}
    assert len(set(nlls.values())) == 3  # a random decoder still reads z: three different numbers
    with torch.no_grad():  # a decoder cut off from z scores the same under every condition
        model.decoder.latent_proj.weight.zero_()
        model.decoder.latent_proj.bias.zero_()
    deaf = evaluate.latent_use(model, tok, ideas, mean, logvar, batch_size=2)["conditions"]
    assert len({round(v["nll_per_excerpt"], 4) for v in deaf.values()}) == 1


def test_checks_logic():
    evaluate = import_module("cadenza_hf.evaluation.evaluate_composer")
    row = lambda s, p, o, d, a: {"strength": s, "pitch": p, "onset": o, "duration": d, "absolute": a}  # noqa: E731
    rows = [row(0.0, 99, 95, 99, 70), row(0.5, 90, 80, 95, 20), row(1.0, 60, 81, 80, 5)]
    assert evaluate.monotonic(rows) == {"pitch": True, "onset": False, "duration": True, "absolute": True}
    assert {c["metric"]: c["result"] for c in evaluate.target_checks(rows, 0.5) if c["strength"] == 0.5} == {
        "pitch": "PASS",
        "onset": "PASS",
        "duration": "PASS",
        "absolute": "PASS",
        "rhythm_kept (melody)": "not measured",
        "rhythm_kept (polyphonic)": "not measured",
    }
    rows[1]["absolute"] = 45.0  # too close to the input at the default strength
    rows[0]["absolute"] = 49.0  # strength 0 must reach 50
    kinds = {(0.5, "melody"): {"rhythm_kept": 0.2}, (0.5, "polyphonic"): {"rhythm_kept": 0.1}}
    results = [c["result"] for c in evaluate.target_checks(rows, 0.5, kinds)]
    assert results == ["PASS", "PASS", "PASS", "FAIL", "FAIL", "PASS", "FAIL"]
    assert [c["metric"] for c in evaluate.target_checks(rows, 0.5, kinds)][-2:] == [
        "rhythm_kept (melody)",
        "rhythm_kept (polyphonic)",
    ]
    assert [c["result"] for c in evaluate.target_checks(rows[2:], 0.5)] == ["not measured"] * 7


# ---- the benchmark script ---------------------------------------------------------------
def test_benchmark_script_runs(tmp_path):
    bench = load_script("benchmark_composer")
    md = tmp_path / "benchmarks.md"
    result = bench.main(
        [
            "--config-overrides",
            json.dumps(TINY),
            "--synthetic",
            "--batch-size",
            "2",
            "--steps",
            "2",
            "--warmup-steps",
            "1",
            "--repeats",
            "1",
            "--gen-repeats",
            "1",
            "--max-new-tokens",
            "64",
            "--markdown",
            str(md),
        ]
    )
    t, g = result["training"], result["generation"]
    assert t["best"]["composer"] > 0 and t["best"]["stock"] > 0 and t["ratio"] > 0
    assert len(t["tokens_per_second"]["composer"]) == 1
    steps = g["steps"]
    assert 0 < steps <= 64
    same_length = [k for k in g["timings"] if not k.startswith("vary")]
    assert all(g["timings"][k]["new_tokens"] == steps for k in same_length), g["timings"]
    assert g["cache_speedup_grammar"] > 0 and g["vs_gpt2_no_grammar"] > 0
    text = md.read_text(encoding="utf-8")
    assert text.count(bench.START_MARK) == 1 and "### Training throughput" in text and "### Generation" in text


def test_stock_pair_trains_both_stacks():
    from cadenza_hf import CadenzaComposerConfig

    bench = load_script("benchmark_composer")
    config = CadenzaComposerConfig(**TINY)
    model = bench.StockEncoderDecoder(config, positions=64)
    assert model.decoder.config.n_layer == config.num_decoder_layers
    assert model.encoder.config.num_hidden_layers == config.num_encoder_layers
    assert model.decoder.config.n_inner == config.intermediate_size
    ids = torch.randint(3, config.vocab_size, (2, 12))
    model(ids, torch.ones_like(ids), labels=ids)["loss"].backward()
    enc_grad = model.encoder.encoder.layer[0].attention.self.query.weight.grad
    assert enc_grad is not None and enc_grad.abs().sum() > 0  # the loss depends on the encoder


def test_onset_slot_jaccard_counts_shared_grid_slots_not_notes():
    from cadenza_hf.evaluation.similarity import onset_slot_jaccard

    # (time, duration, pitch) at 480 ticks per quarter: a 16th is 120 ticks
    a = [(0, 120, 60), (0, 120, 64), (480, 120, 62), (960, 120, 60)]  # slots {0, 4, 8}; a chord counts once
    b = [(0, 240, 72), (480, 120, 50), (1440, 120, 60)]  # slots {0, 4, 12}
    assert onset_slot_jaccard(a, a) == 1.0
    assert onset_slot_jaccard(a, b) == 2 / 4
    assert onset_slot_jaccard(a, [(120, 120, 60)]) == 0.0
    assert onset_slot_jaccard([], []) == 1.0
