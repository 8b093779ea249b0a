"""Performer evaluation: expressiveness metrics on hand-made notes, and the evaluation and
benchmark scripts end to end on tiny random performers."""

from __future__ import annotations

import json
import math
from importlib import import_module
from pathlib import Path

import numpy as np
import pytest
import symusic

from cadenza_hf.evaluation.expressiveness import (
    EXCERPT_FEATURES,
    PerformedNotes,
    classifier_two_sample_test,
    excerpt_features,
    human_likeness,
    kl_divergence,
    lag1_autocorrelation,
    match_notes,
    microtiming_figures,
    microtiming_histogram,
    microtiming_mae,
    microtiming_percent,
    score_timing_figures,
    ticks_to_percent,
    velocity_correlation,
    velocity_figures,
    velocity_histogram,
    velocity_mae,
)

from .midi_factory import copy_groove, copy_pop909
from .script_loader import load_script

TINY = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}


def _notes(grid, micro, pitch, velocity):
    grid = np.asarray(grid)
    return PerformedNotes(grid, grid + np.asarray(micro), pitch, velocity, 480)


# ---- metrics on hand-made data ------------------------------------------------------------
def test_microtiming_percent_of_a_sixteenth():
    # 30 ticks late at 480 tpq = 25% of a 16th; 30 early = -25%; half-way counts as -50% of the next
    pct = microtiming_percent([0, 480 + 30, 960 - 30, 60, 120 + 59], ticks_per_quarter=480)
    np.testing.assert_allclose(pct, [0, 25, -25, -50, 49.166666666], atol=1e-6)
    assert float(ticks_to_percent(30, 480)) == 25.0
    assert float(microtiming_percent([15], ticks_per_quarter=240)[0]) == 25.0  # 16th = 60 ticks at 240 tpq


def test_histograms_from_arrays_and_scores():
    score = symusic.Score(480)
    track = symusic.Track()
    for t, v in ((0, 64), (510, 64), (1050, 100), (1440, 127)):
        track.notes.append(symusic.Note(t, 100, 60, v))
    score.tracks.append(track)
    vel = velocity_histogram(score)
    assert vel.shape == (128,) and vel[64] == 2 and vel[100] == 1 and vel[127] == 1 and vel.sum() == 4
    micro = microtiming_histogram(score)
    assert micro.shape == (100,) and micro.sum() == 4
    assert micro[50] == 2 and micro[75] == 1 and micro[25] == 1  # 0, 1440: 0%; 510: +25%; 1050 = 1080 - 30: -25%
    with pytest.raises(ValueError):
        velocity_histogram([128])


def test_kl_divergence_values_and_direction():
    h = np.array([3, 1, 0, 0])
    assert kl_divergence(h, h) == 0.0
    assert kl_divergence(h, 2 * h) == 0.0  # counts are normalised
    p, q = np.array([1, 1]), np.array([3, 1])
    expected = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    assert kl_divergence(p, q, eps=0) == pytest.approx(expected)
    assert kl_divergence(q, p, eps=0) != pytest.approx(expected)  # not symmetric
    # an empty bin in q costs a finite penalty that grows as eps shrinks
    assert 0 < kl_divergence([1, 1], [1, 0], eps=1e-3) < kl_divergence([1, 1], [1, 0], eps=1e-9) < 20
    with pytest.raises(ValueError):
        kl_divergence([0, 0], [1, 1])


def test_excerpt_features_by_hand():
    # 4/4, 480 tpq: notes on beats 1 and 2 (on the beat) and two 8ths after them (off the beat)
    notes = _notes([0, 240, 480, 720], [0, 12, -12, 24], [60, 62, 64, 65], [100, 60, 90, 50])
    f = excerpt_features(notes, "4/4")
    assert f["velocity_mean"] == 75 and f["velocity_std"] == pytest.approx(np.std([100, 60, 90, 50]))
    assert f["velocity_step"] == pytest.approx((40 + 30 + 40) / 3)
    assert f["beat_accent"] == pytest.approx(95 - 55)
    assert f["timing_mean"] == pytest.approx(ticks_to_percent(6.0)) and f["timing_abs"] == pytest.approx(10.0)
    assert f["velocity_lag1"] < 0  # loud-soft alternation
    assert lag1_autocorrelation([1, 2, 3, 4, 5, 6]) > 0.4 and lag1_autocorrelation([7, 7, 7]) == 0.0
    # in 6/8 the beat unit is an eighth: every note of this excerpt is on a beat, so there is no accent figure
    assert excerpt_features(notes, "6/8")["beat_accent"] == 0.0


def test_classifier_two_sample_test_separates_only_what_differs():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(80, 8)), rng.normal(size=(80, 8))
    assert classifier_two_sample_test(a, b) < 0.65  # same distribution: near chance
    shifted = b + np.r_[3.0, np.zeros(7)]
    assert classifier_two_sample_test(a, shifted) > 0.9  # one feature far apart: told apart
    with pytest.raises(ValueError):
        classifier_two_sample_test(a[:3], b[:3])  # fewer pairs than folds


def test_human_likeness_and_point_correlation():
    rng = np.random.default_rng(1)
    grid = np.arange(16) * 120
    real = [_notes(grid, rng.integers(-5, 6, 16), [60] * 16, rng.integers(40, 90, 16)) for _ in range(12)]
    flat = [_notes(grid, np.zeros(16, int), [60] * 16, np.full(16, 64)) for _ in range(12)]
    assert velocity_correlation(real[0], real[0]) == pytest.approx(1.0)
    assert velocity_correlation(flat[0], real[0]) == 0.0  # a flat estimate carries no order
    same = human_likeness(real, real, point_estimate=real)
    assert same["velocity_spread_ratio"] == 1.0 and same["point_correlation"] == pytest.approx(1.0)
    assert same["classifier_accuracy"] <= 0.6
    apart = human_likeness(real, flat, point_estimate=flat)
    assert apart["velocity_spread_ratio"] == 0.0 and apart["point_correlation"] == 0.0
    assert apart["classifier_accuracy"] >= 0.9 and set(apart["features"]) == set(EXCERPT_FEATURES)


def test_figures_identical_and_shifted():
    ref = _notes([0, 120, 240, 360], [0, 10, -10, 30], [60] * 4, [40, 60, 80, 100])
    same = velocity_figures(ref, ref)
    assert same["kl"] == 0.0 and same["mean_diff"] == 0.0 and same["std_diff"] == 0.0
    shifted = velocity_figures(ref, ref.velocity + 7)  # a known shift: mean moves by 7, std unchanged
    assert shifted["mean_diff"] == pytest.approx(7.0) and shifted["std_diff"] == pytest.approx(0.0)
    assert shifted["kl"] > 1.0
    later = _notes(ref.grid, ref.microtiming + 12, ref.pitch, ref.velocity)  # 12 ticks = 10% of a 16th
    mt = microtiming_figures(ref, later)
    assert mt["mean_diff"] == pytest.approx(10.0) and mt["std_diff"] == pytest.approx(0.0)
    assert microtiming_figures(ref, ref)["kl"] == 0.0


def test_score_timing_leaves_out_the_score_grid():
    # the same played timing on a 16th score and on an eighth-triplet score (160-tick steps at 480 tpq)
    micro = [0, 12, -12, 24, -24, 6]
    straight = _notes(np.arange(6) * 120, micro, [60] * 6, [80] * 6)
    triplets = _notes(np.arange(6) * 160, micro, [60] * 6, [80] * 6)
    # the paper's microtiming counts the triplets' distance from the 16th grid as timing ...
    assert microtiming_figures(straight, triplets)["std_diff"] > 10.0
    # ... the timing against the score does not: identical distributions
    same = score_timing_figures(straight, triplets)
    assert same["kl"] == 0.0 and same["mean_diff"] == 0.0 and same["std_diff"] == 0.0
    # and it still sees added timing: 12 ticks later on every note = 10% of a 16th
    later = score_timing_figures(
        straight, _notes(straight.grid, np.asarray(micro) + 12, straight.pitch, straight.velocity)
    )
    assert later["mean_diff"] == pytest.approx(10.0) and later["kl"] > 1.0
    # beyond +-50% of a 16th lands in the end bins instead of being dropped
    far = score_timing_figures(straight, _notes(straight.grid, [90] * 6, straight.pitch, straight.velocity))
    assert far["model_mean"] == pytest.approx(50.0, abs=1e-6)


def test_mae_matches_notes_by_grid_and_pitch():
    real = _notes([0, 0, 240, 480], [0, 0, -12, 30], [60, 64, 62, 65], [80, 90, 70, 60])
    # the same notes in another order (chord spelled top-down), 10 louder and 6 ticks later each
    order = [1, 0, 3, 2]
    played = _notes(real.grid[order], real.microtiming[order] + 6, real.pitch[order], real.velocity[order] + 10)
    i, j = match_notes(played, real)
    assert np.array_equal(played.pitch[i], real.pitch[j])
    assert velocity_mae(played, real) == 10.0
    assert microtiming_mae(played, real) == 6.0
    assert microtiming_mae(played, real, unit="percent") == 5.0
    other = _notes([0, 0, 240, 480], [0] * 4, [60, 64, 62, 66], [80] * 4)
    with pytest.raises(ValueError):
        match_notes(other, real)


def test_performed_notes_from_ids(tokenizer):
    score = symusic.Score(480)
    score.time_signatures.append(symusic.TimeSignature(0, 3, 4))
    track = symusic.Track(program=0)
    for t, p, v in ((0, 60, 100), (480 + 24, 64, 51), (1440 + 160 - 8, 67, 75)):  # bar 2 starts at 1440
        track.notes.append(symusic.Note(t, 240, p, v))
    score.tracks.append(track)
    ids = tokenizer.encode_midi(score, track=0, start_bar=0, bars=2)
    notes = PerformedNotes.from_ids(tokenizer, ids, "3/4")
    assert notes.grid.tolist() == [0, 480, 1600]
    assert notes.microtiming.tolist() == [0, 24, -8]
    assert notes.pitch.tolist() == [60, 64, 67]
    assert notes.velocity.tolist() == [99, 51, 75]  # velocities binned to PerTok's 32 values


# ---- the scripts end to end -----------------------------------------------------------------
POP_SONGS = {"004": "train", "052": "train", "014": "test"}


@pytest.fixture(scope="module")
def tiny_dataset(data_dir, tmp_path_factory) -> Path:
    """A few Groove (train + validation) and POP909 (train + test) files built into a DatasetDict."""
    from cadenza_hf.data import BuildOptions, build_dataset
    from cadenza_hf.data.sources import SourceFile, split_of

    root = tmp_path_factory.mktemp("perf_eval")
    for song, split in POP_SONGS.items():
        assert split_of(SourceFile("", f"pop909/{song}", "pop909")) == split

    def short_4_4_beat(row) -> bool:
        return row["beat_type"] == "beat" and row["time_signature"] == "4-4" and 20 < float(row["duration"]) < 60

    pop = copy_pop909(data_dir, root, POP_SONGS)
    groove = copy_groove(data_dir, root, train=3, validation=2, keep=short_4_4_beat)
    dataset, _ = build_dataset([str(pop), str(groove)], BuildOptions(), cache_dir=str(root / "cache"))
    dataset.save_to_disk(str(root / "dataset"))
    return root / "dataset"


@pytest.fixture(scope="module")
def tiny_performers(tmp_path_factory) -> dict:
    import torch

    from cadenza_hf import CadenzaPerformerConfig, CadenzaPerformerForMaskedLM, PerTokTokenizer

    root, tok, out = tmp_path_factory.mktemp("performers"), PerTokTokenizer(), {}
    for seed, name in enumerate(("groove", "pop909")):
        torch.manual_seed(seed)
        config = CadenzaPerformerConfig(
            vocab_size=tok.vocab_size,
            pad_token_id=tok.pad_token_id,
            mask_token_id=tok.mask_token_id,
            velocity_token_ids=tok.velocity_ids,
            microtiming_token_ids=tok.microtiming_ids,
            **TINY,
        )
        CadenzaPerformerForMaskedLM(config).save_pretrained(root / name)
        tok.save_pretrained(root / name)
        out[name] = root / name
    return out


@pytest.mark.parametrize("inputs", ["kind", "all"])
def test_evaluate_performer_end_to_end(tiny_dataset, tiny_performers, tmp_path, capsys, inputs):
    evaluate = import_module("cadenza_hf.evaluation.evaluate_performer")
    md, js = tmp_path / "benchmarks.md", tmp_path / "eval.json"
    md.write_text("# Benchmarks\n\nintro kept\n", encoding="utf-8")
    argv = [
        "--groove-model",
        str(tiny_performers["groove"]),
        "--pop909-model",
        str(tiny_performers["pop909"]),
        "--dataset",
        str(tiny_dataset),
        "--num-excerpts",
        "4",
        "--num-reference",
        "10",
        "--temperature",
        "1.0",
        "--steps",
        "3",
        "--inputs",
        inputs,
        "--output-json",
        str(js),
        "--markdown",
        str(md),
    ]
    result = evaluate.main(argv)

    out = capsys.readouterr().out
    assert (
        out.startswith("# ")
        and "python -m cadenza_hf.evaluation.evaluate_performer --groove-model" in out.splitlines()[0]
    )
    assert result["sizes"]["held_out_excerpts"] == {"groove": 4, "pop909": 4}
    # Table 4: 2 performers x 6 decodings x 3 metrics (the paper's two and the timing against the score)
    keys = {(r["performer"], r["decoding"], r["metric"]) for r in result["table4"]}
    metrics = ("velocity", "microtiming", "timing_vs_score")
    decodings = ("argmax", "median", "mean", "T=1", "T=0, 3 steps", "T=1, 3 steps")
    assert keys == {(p, d, m) for p in ("groove", "pop909") for d in decodings for m in metrics}
    for row in result["table4"]:
        for fig in ("kl", "kl_reverse", "mean_diff", "std_diff"):
            assert set(row[fig]) == {"train", "opposite"} and all(v >= 0 for v in row[fig].values())
        assert set(row["closer_to_own"]) == {"kl", "mean_diff", "std_diff"}
    # human-likeness: each performer on its own set, every decoding; sampled ones carry a point estimate
    human = {(r["dataset"], r["decoding"]): r for r in result["human"]}
    assert set(human) == {(c, d) for c in ("groove", "pop909") for d in decodings}
    # sampled rows report the pipelines' temperature-0 output (the one-pass mean estimate) as their point estimate
    assert human["pop909", "T=1, 3 steps"]["point"] == "mean" and human["groove", "T=1"]["point"] == "mean"
    assert (human["pop909", "T=1, 3 steps"]["temperature"], human["pop909", "T=1, 3 steps"]["steps"]) == (1.0, 3)
    assert (human["groove", "median"]["temperature"], human["groove", "T=1"]["steps"]) == (0.0, 1)
    for r in human.values():
        assert 0 <= r["classifier_accuracy"] <= 1 and -1 <= r["point_correlation"] <= 1
    assert len(result["human_targets"]) == 2 * 2 * 3  # 2 sets x 2 sampled decodings x 3 targets
    # a drum performer fills drum inputs only, a pitched one pitched inputs (--inputs kind), or both fill all
    table4_notes = {r["performer"]: r["notes"] for r in result["table4"]}
    assert (table4_notes["groove"] == table4_notes["pop909"]) == (inputs == "all")
    # MAE rows: per held-out set, its own performer (and with --inputs all the other one) x 6 decodings,
    # + 4 baselines + the excerpt-mean oracle
    for dataset in ("groove", "pop909"):
        kinds = [r["kind"] for r in result["mae"] if r["dataset"] == dataset]
        assert sorted(kinds) == sorted(
            ["performer_own"] * 6
            + ["performer_opposite"] * (6 if inputs == "all" else 0)
            + [
                "baseline_mean_zero",
                "baseline_random",
                "baseline_pitch_mean",
                "baseline_track_mean",
                "oracle_excerpt_mean",
            ]
        )
        by_kind = {r["kind"]: r for r in result["mae"] if r["dataset"] == dataset}
        # the excerpt's own mean is the constant per excerpt with the least squared error, so on notes
        # that vary it may lose to a single global constant only by chance; at least it is never negative
        assert by_kind["oracle_excerpt_mean"]["velocity_mae"] >= 0
        notes = {r["notes"] for r in result["mae"] if r["dataset"] == dataset}
        assert len(notes) == 1 and notes.pop() > 0  # every method is scored on the same notes
    assert [t["name"].split(":")[0] for t in result["targets"]] == ["groove", "groove", "pop909"]
    assert all("(median)" in t["name"] for t in result["targets"])
    assert all(isinstance(t["pass"], bool) for t in result["targets"])

    assert json.loads(js.read_text())["table4"] == json.loads(json.dumps(result["table4"]))
    text = md.read_text(encoding="utf-8")
    assert "intro kept" in text and text.count(evaluate.START_MARK) == 1
    assert "KL train" in text and "velocity MAE" in text and ("PASS" in text or "FAIL" in text)
    assert "classifier acc." in text
    evaluate.write_section(md, "## Performer evaluation\n\nrefreshed")
    again = md.read_text(encoding="utf-8")
    assert "refreshed" in again and "KL train" not in again and "intro kept" in again


def test_benchmark_performer_runs(tmp_path, capsys):
    bench = load_script("benchmark_performer")
    md = tmp_path / "benchmarks.md"
    argv = [
        "--config-overrides",
        json.dumps(TINY),
        "--latency-runs",
        "2",
        "--warmup",
        "1",
        "--batch-size",
        "3",
        "--throughput-runs",
        "1",
        "--train-steps",
        "3",
        "--train-warmup",
        "1",
        "--train-batch-size",
        "2",
        "--repeats",
        "1",
        "--steps",
        "3",
        "--markdown",
        str(md),
    ]
    result = bench.main(argv)
    assert "python scripts/benchmark_performer.py" in capsys.readouterr().out.splitlines()[0]
    inf, tr = result["inference"], result["training"]
    assert inf["coherent_steps"] == 3 and inf["latency_coherent_ms"] > 0
    assert inf["batch"] == 3 and inf["latency_fill_ms"] > 0 and inf["excerpts_per_s"] > 0 and inf["tokens_per_s"] > 0
    assert set(tr["median"]) == {"performer", "bert"} and all(v > 0 for v in tr["median"].values())
    assert tr["same_batches"] and len(tr["batch_tokens"]) == 3
    assert tr["ratio"] == pytest.approx(tr["median"]["performer"] / tr["median"]["bert"])
    text = md.read_text(encoding="utf-8")
    assert text.count(bench.START_MARK) == 1 and "training tokens/s performer / BERT" in text


def test_track_mean_baseline_uses_each_excerpts_track():
    from cadenza_hf.evaluation.expressiveness import PerformedNotes

    evaluate = import_module("cadenza_hf.evaluation.evaluate_performer")

    def notes(*velocities):
        grid = np.arange(len(velocities), dtype=float) * 120
        return PerformedNotes(grid, grid.copy(), np.full(len(velocities), 60), np.array(velocities, dtype=float))

    train_rows, train_notes = (
        [{"track": "MELODY"}, {"track": "PIANO"}, {"track": "PIANO"}],
        [notes(100, 90), notes(70), notes(80, 80, 80)],
    )
    means = evaluate.track_mean_velocities(train_rows, train_notes)
    assert means == {"MELODY": 95.0, "PIANO": 77.5}
    real = [notes(95, 99), notes(70, 80)]
    rows = evaluate.baseline_rows(
        "pop909", real, PerformedNotes.concatenate(train_notes), 0, ["MELODY", "PIANO"], means
    )
    by_kind = {r["kind"]: r for r in rows}
    assert by_kind["baseline_track_mean"]["velocity_mae"] == pytest.approx((0 + 4 + 7.5 + 2.5) / 4)
    assert "MELODY 95.0" in by_kind["baseline_track_mean"]["method"]
    assert "baseline_track_mean" not in {r["kind"] for r in evaluate.baseline_rows("pop909", real, real[0], 0)}


def test_velocity_ceiling_features_are_the_quantized_score(tokenizer):
    """The regression check sees what a performer sees: grid onsets (microtiming dropped), chords, gaps."""
    ceiling = load_script("velocity_ceiling")
    score = symusic.Score(480)
    score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    track = symusic.Track(program=0)
    for t, p, v in ((0, 60, 60), (0, 64, 70), (0, 67, 90), (480 + 24, 72, 100)):
        track.notes.append(symusic.Note(t, 240, p, v))
    score.tracks.append(track)
    ids = tokenizer.encode_midi(score, track=0, start_bar=0, bars=1)
    x, velocity = ceiling.note_table(tokenizer, {"input_ids": ids, "time_signature": "4/4"})
    col = {name: x[:, k].tolist() for k, name in enumerate(ceiling.SCORE_FEATURES)}
    order = np.argsort(col["pitch"])
    assert [col["pitch"][k] for k in order] == [60, 64, 67, 72]
    assert [col["bar_position_16ths"][k] for k in order] == [0, 0, 0, 4]  # the late note sits on its beat
    assert [col["chord_size"][k] for k in order] == [3, 3, 3, 1]
    assert [col["rank_from_top"][k] for k in order] == [2, 1, 0, 0]
    assert [col["is_bottom"][k] for k in order] == [1, 0, 0, 1]
    assert [col["gap_before"][k] for k in order] == [-1, -1, -1, 4]
    assert [col["gap_after"][k] for k in order] == [4, 4, 4, -1]
    assert set(col["excerpt_notes"]) == {4} and set(col["meter_numerator"]) == {4}
    assert sorted(velocity.tolist()) == [59, 71, 91, 99]  # performed velocities, binned by PerTok


def test_velocity_ceiling_quotes_the_performers_point_estimates():
    """The ceiling table quotes the performer's median and mean rows with the within-excerpt r the evaluation
    measured for its temperature-0 output (the mean), and nothing from another set or a sampled decoding."""
    ceiling = load_script("velocity_ceiling")
    mae = [
        {"dataset": "pop909", "kind": "performer_own", "method": "pop909 performer (mean)", "decoding": "mean"},
        {"dataset": "pop909", "kind": "performer_own", "method": "pop909 performer (median)", "decoding": "median"},
        {"dataset": "pop909", "kind": "performer_own", "method": "pop909 performer (T=1)", "decoding": "T=1"},
        {"dataset": "pop909", "kind": "performer_other", "method": "asap performer (mean)", "decoding": "mean"},
        {"dataset": "asap", "kind": "performer_own", "method": "asap performer (mean)", "decoding": "mean"},
    ]
    for k, row in enumerate(mae):
        row["velocity_mae"] = 10.0 + k
    human = [
        {"dataset": "pop909", "decoding": "mean", "point": "mean", "point_correlation": 0.25},
        {"dataset": "pop909", "decoding": "T=1", "point": "mean", "point_correlation": 0.25},
        {"dataset": "asap", "decoding": "mean", "point": "mean", "point_correlation": 0.42},
    ]
    rows = ceiling.quoted_performer({"mae": mae, "human": human}, "pop909", "eval.json")
    assert [(r["method"], r["mae"], r["within_r"]) for r in rows] == [
        ("pop909 performer (mean), from eval.json", 10.0, 0.25),
        ("pop909 performer (median), from eval.json", 11.0, None),
    ]


def test_evaluate_performer_three_styles_and_chosen_decodings(tiny_dataset, tiny_performers, tmp_path):
    """A third (classical) performer on its own dataset: Table 4 takes the nearest other training set, the
    ASAP timing spread becomes a target, and --decodings runs only the coherent sampler."""
    from datasets import DatasetDict, load_from_disk

    evaluate = import_module("cadenza_hf.evaluation.evaluate_performer")
    data = load_from_disk(str(tiny_dataset))
    # stands in for a dataset built from ../shared/data/asap
    asap = DatasetDict(
        {
            split: data[split]
            .filter(lambda c: c == "pop909", input_columns="collection")
            .map(lambda row: {"collection": "asap"})
            for split in ("train", "test")
        }
    )
    asap.save_to_disk(str(tmp_path / "asap"))
    argv = [
        *("--groove-model", str(tiny_performers["groove"]), "--pop909-model", str(tiny_performers["pop909"])),
        *("--asap-model", str(tiny_performers["pop909"]), "--asap-dataset", str(tmp_path / "asap")),
        *("--dataset", str(tiny_dataset), "--num-excerpts", "3", "--num-reference", "8"),
        *("--steps", "2", "--decodings", "coherent"),
    ]
    result = evaluate.main(argv)
    assert set(result["sizes"]["held_out_excerpts"]) == {"groove", "pop909", "asap"}
    assert result["settings"]["decodings"] == ["T=0, 2 steps", "T=1, 2 steps"]
    assert {r["decoding"] for r in result["table4"]} == {"T=0, 2 steps", "T=1, 2 steps"}
    for row in result["table4"]:
        others = row["others"]
        assert set(others) == {"groove", "pop909", "asap"} - {row["performer"]}
        for key in ("kl", "mean_diff", "std_diff"):
            assert row[key]["opposite"] == min(o[key] for o in others.values())
            assert row["closer_to_own"][key] == (row[key]["train"] < row[key]["opposite"])
    names = [t["name"] for t in result["human_targets"]]
    assert any(n.startswith("asap (T=1, 2 steps): timing spread ratio") for n in names)
    assert not any("timing spread" in n for n in names if not n.startswith("asap"))
    with pytest.raises(SystemExit, match="no decoding"):
        evaluate.main(argv[:-4] + ["--decodings", "coherent"])  # coherent needs --steps > 1
