"""PerTokTokenizer: round trips on real excerpts, grammar, save/load, transformers API."""

from __future__ import annotations

import json

import numpy as np
import pytest
import symusic
from transformers import AutoTokenizer

from cadenza_hf import MidiInputError, PerTokTokenizer
from cadenza_hf.tokenization.alignment import load_pop909_song
from cadenza_hf.tokenization.excerpt import count_bars

from .midi_factory import simple_midi

POP_SONGS = ["001", "004", "010", "023", "057", "101", "202", "350"]
GROOVE_FILES = [
    "drummer1/session1/1_funk_80_beat_4-4.mid",
    "drummer1/session1/10_jazz-funk_116_beat_4-4.mid",
    "drummer7/session2/100_neworleans-secondline_94_beat_4-4.mid",
]


def _excerpts(tokenizer, score, track, limit=6):
    """Up to ``limit`` windows of 4 bars (every 4th bar) that hold notes in one meter."""
    found = []
    for bar in range(0, count_bars(score) - 3, 4):
        try:
            excerpt = tokenizer.extract_excerpt(score, track=track, start_bar=bar)
        except MidiInputError:
            continue
        if excerpt.meta.bar_meters:  # across a meter change: tests/test_meter_changes.py
            continue
        found.append(excerpt)
        if len(found) == limit:
            break
    return found


@pytest.fixture(scope="module")
def real_excerpts(tokenizer, data_dir, pop909_index):
    out = []
    for song in POP_SONGS:
        score = load_pop909_song(data_dir / "pop909" / song, pop909_index[song])
        for track in ("PIANO", "MELODY"):
            out += [(f"{song}/{track}", e) for e in _excerpts(tokenizer, score, track, 3)]
    for path in GROOVE_FILES:
        full = data_dir / "groove" / path
        if full.exists():
            out += [(path, e) for e in _excerpts(tokenizer, symusic.Score(str(full)), None, 3)]
    assert len(out) > 40
    return out


def _sorted_notes(score):
    n = score.tracks[0].notes.numpy()
    order = np.lexsort((n["time"], n["pitch"]))
    return {k: v[order].astype(np.int64) for k, v in n.items()}


def test_round_trip_real_excerpts(tokenizer, real_excerpts):
    half_mt_bin = tokenizer.settings["max_microtiming_shift"] * 480 / tokenizer.settings["num_microtiming_bins"]
    velocities = sorted(int(t.split("_")[1]) for t in tokenizer.convert_ids_to_tokens(tokenizer.velocity_ids))
    half_vel_bin = max(np.diff([0, *velocities])) / 2  # integer bins are 3 or 4 wide
    kinds = set()
    for name, excerpt in real_excerpts:
        ids = tokenizer.encode_excerpt(excerpt)
        ts = excerpt.meta.time_signature
        assert tokenizer.grammar_errors(ids, bars=4, time_signature=ts, require_eos=True) == 0, name
        decoded = tokenizer.decode_midi(ids, excerpt)
        src, out = _sorted_notes(excerpt.score), _sorted_notes(decoded)
        assert len(src["time"]) == len(out["time"]), name
        assert np.abs(src["time"] - out["time"]).max() <= half_mt_bin, name
        assert np.abs(src["velocity"] - out["velocity"]).max() <= half_vel_bin, name
        assert (src["pitch"] == out["pitch"]).all(), name
        kinds.add(excerpt.meta.is_drum)
    assert kinds == {True, False}


def _grid_quantized(excerpt, tok):
    """Independent reference: each onset to the nearest union-grid point of its bar,
    each duration to the nearest duration token, cut at the window's end."""
    tpq, bar = 480, excerpt.meta.bar_ticks
    end = bar * excerpt.meta.bars
    steps = [4 * tpq // g for g in tok.settings["grids"]]
    grid = np.array(sorted({t for s in steps for t in range(0, bar + 1, s)}))
    durations = np.array(sorted({t for s in steps for t in range(s, 4 * tpq + 1, s)}))
    out = set()
    for t, d, p in zip(*(excerpt.score.tracks[0].notes.numpy()[k] for k in ("time", "duration", "pitch"))):
        b, rel = divmod(int(t), bar)
        dist = np.abs(grid - rel)
        q = b * bar + int(grid[np.flatnonzero(dist == dist.min())[-1]])  # ties to the later point
        dq = None if excerpt.meta.is_drum else min(int(durations[np.abs(durations - d).argmin()]), end - q)
        out.add((q, int(p), dq))
    return out


def test_composition_decode_is_grid_quantized_score(tokenizer, real_excerpts):
    for name, excerpt in real_excerpts:
        comp = tokenizer.composition_ids(tokenizer.encode_excerpt(excerpt))
        assert tokenizer.grammar_errors(comp, bars=4, time_signature=excerpt.meta.time_signature) == 0, name
        decoded = tokenizer.decode_midi(comp, excerpt).tracks[0].notes.numpy()
        got = {
            (int(t), int(p), None if excerpt.meta.is_drum else int(d))
            for t, d, p in zip(decoded["time"], decoded["duration"], decoded["pitch"])
        }
        assert got == _grid_quantized(excerpt, tokenizer), name
        assert (decoded["velocity"] == 100).all()


def test_bar_tokens_are_explicit(tokenizer):
    notes = [(0, 240, 60, 90), (480 * 4 * 2 + 120, 240, 64, 90)]  # bars 0 and 2; bar 1 and 3 empty
    ids = tokenizer.encode_midi(simple_midi(notes + [(480 * 16 - 1000, 100, 50, 1)]), bars=4)
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert tokens.count("Bar_None") == 4
    assert tokens[:2] == ["BOS_None", "Bar_None"] and tokens[-1] == "EOS_None"


def test_meter_and_meta_are_restored(tokenizer):
    notes = [(i * 480, 400, 62, 70) for i in range(12)]
    midi = simple_midi(notes, ts=(3, 2), tempo_us=400000)  # 3/4 at 150 bpm
    excerpt = tokenizer.extract_excerpt(midi, bars=4)
    assert excerpt.meta.time_signature == (3, 4) and excerpt.meta.bar_ticks == 1440
    ids = tokenizer.encode_excerpt(excerpt)
    assert tokenizer.grammar_errors(ids, bars=4, time_signature=(3, 4)) == 0
    assert tokenizer.grammar_errors(ids, bars=4, time_signature=(4, 4)) == 0  # every note still inside 4/4 bars
    score = tokenizer.decode_midi(ids, excerpt)
    assert (score.time_signatures[0].numerator, score.time_signatures[0].denominator) == (3, 4)
    assert abs(score.tempos[0].qpm - 150) < 0.01
    starts = score.tracks[0].notes.numpy()["time"]
    assert starts.tolist() == [n[0] for n in notes]


def test_drum_flag_and_program_are_restored(tokenizer, data_dir):
    path = data_dir / "groove" / GROOVE_FILES[0]
    excerpt = tokenizer.extract_excerpt(str(path), start_bar=1)
    ids = tokenizer.encode_excerpt(excerpt)
    assert not any(t.startswith("Duration") for t in tokenizer.convert_ids_to_tokens(ids))
    score = tokenizer.decode_midi(ids, excerpt)
    assert score.tracks[0].is_drum
    piano = tokenizer.decode_midi(tokenizer.encode_midi(simple_midi()), None)
    assert not piano.tracks[0].is_drum


def test_path_bytes_score_give_identical_ids(tokenizer, tmp_path):
    data = simple_midi()
    path = tmp_path / "idea.mid"
    path.write_bytes(data)
    by_path = tokenizer.encode_midi(str(path))
    assert tokenizer.encode_midi(path) == by_path
    assert tokenizer.encode_midi(data) == by_path
    assert tokenizer.encode_midi(symusic.Score.from_midi(data)) == by_path


def test_call_returns_batch_encoding(tokenizer, tmp_path):
    short = simple_midi([(i * 480, 240, 60, 80) for i in range(4)])
    long = simple_midi()
    enc = tokenizer([short, long], padding=True, return_tensors="pt")
    assert enc["input_ids"].shape[0] == 2
    lengths = enc["attention_mask"].sum(1).tolist()
    assert lengths[0] < lengths[1] == enc["input_ids"].shape[1]
    assert enc["input_ids"][0, lengths[0] :].eq(tokenizer.pad_token_id).all()
    single = tokenizer(long)
    assert single["input_ids"] == tokenizer.encode_midi(long)
    cut = tokenizer(long, truncation=True, max_length=20)
    assert len(cut["input_ids"]) == 20 and cut["input_ids"][-1] == tokenizer.eos_token_id
    texts = tokenizer.batch_decode(enc["input_ids"], skip_special_tokens=True)
    assert texts[1].split()[0] == "Bar_None" and "PAD_None" not in texts[0]
    assert tokenizer(texts[1])["input_ids"] == single["input_ids"]


def test_unknown_token_text_raises(tokenizer):
    with pytest.raises(ValueError, match="unknown PerTok token"):
        tokenizer("Bar_None Pitch_999")


def test_composition_mask_merge(tokenizer, data_dir):
    ids = tokenizer.encode_midi(str(data_dir / "groove" / GROOVE_FILES[0]), start_bar=2)
    perf = set(tokenizer.performance_ids)
    comp = tokenizer.composition_ids(ids)
    assert not perf & set(comp) and len(comp) < len(ids)
    masked = tokenizer.mask_performance(ids)
    assert not perf & set(masked)
    assert masked.count(tokenizer.mask_token_id) == sum(i in perf for i in ids)
    assert tokenizer.merge_performance(masked, ids) == ids
    assert tokenizer.add_performance_slots(comp) == masked
    vel, micro = tokenizer.performance_slots(masked)
    assert [ids[p] for p, v in enumerate(vel) if v] == [i for i in ids if i in tokenizer.velocity_ids]
    assert [ids[p] for p, m in enumerate(micro) if m] == [i for i in ids if i in tokenizer.microtiming_ids]
    bad = list(ids)
    first_slot = vel.index(True)
    bad[first_slot] = tokenizer.microtiming_ids[0]  # a microtiming token in a velocity slot
    with pytest.raises(ValueError, match="slot wants VEL"):
        tokenizer.merge_performance(masked, bad)


def test_token_families_partition_vocab(tokenizer):
    fams = tokenizer.token_families
    ids = [i for v in fams.values() for i in v]
    assert len(ids) == len(set(ids)) == tokenizer.vocab_size - 4  # all but PAD/BOS/EOS/MASK
    assert len(fams["velocity"]) == 32 and len(fams["microtiming"]) == 31
    shifts = [tokenizer.convert_ids_to_tokens(i) for i in fams["timeshift"]]
    assert "TimeShift_0.120.480" in shifts and "TimeShift_0.160.480" in shifts  # both grids kept


def test_grammar_detects_corruption(tokenizer, data_dir):
    ids = tokenizer.encode_midi(str(data_dir / "groove" / GROOVE_FILES[0]), start_bar=2)
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert tokenizer.grammar_errors(ids, bars=4, require_eos=True) == 0
    vocab = tokenizer.get_vocab()

    def errors(seq):
        return tokenizer.grammar_errors([vocab[t] for t in seq], bars=4, require_eos=True)

    first_vel = tokens.index(next(t for t in tokens if t.startswith("Velocity")))
    cases = {
        "drop a bar": [t for i, t in enumerate(tokens) if not (t == "Bar_None" and i == tokens.index("Bar_None", 3))],
        "velocity outside a note": tokens[:2] + ["Velocity_63"] + tokens[2:],
        "missing velocity": tokens[:first_vel] + tokens[first_vel + 1 :],
        "shift past the bar": tokens[:2] + ["TimeShift_3.360.480", "TimeShift_0.360.480"] + tokens[2:],
        "off-grid position": tokens[:2] + ["TimeShift_0.40.480"] + tokens[2:],
        "pitched note in a drum track": tokens[:-1]
        + ["Pitch_60", "MicroTiming_0", "Velocity_63", "Duration_1.0.480"]
        + tokens[-1:],
        "dangling shift": tokens[:-1] + ["TimeShift_0.120.480"] + tokens[-1:],
        "token after EOS": tokens + ["Bar_None"],
        "no EOS": tokens[:-1],
        "second BOS": tokens[:1] + tokens,
    }
    for name, seq in cases.items():
        assert errors(seq) > 0, name


def test_grammar_allowed_mask_generates_valid_sequences(tokenizer):
    """Random walks through allowed_mask always end valid with the right bar count."""
    from cadenza_hf.tokenization.grammar import Kind

    rng = np.random.default_rng(0)
    for track, bars, ts in [(Kind.PITCH, 4, (4, 4)), (Kind.DRUM, 2, (3, 4)), (Kind.PITCH, 3, (6, 8))]:
        bar_ticks = tokenizer.bar_ticks(ts)
        for budget in (12, 60, 200):
            state = tokenizer.grammar.new_state(bars=bars, bar_ticks=bar_ticks, mode="composition", track=track)
            seq = [tokenizer.bos_token_id]
            tokenizer.grammar.step(state, seq[0])
            while not state.done:
                mask = tokenizer.grammar.allowed_mask(state, remaining=budget - len(seq))
                choice = int(rng.choice(np.flatnonzero(mask)))
                assert tokenizer.grammar.step(state, choice) == 0
                seq.append(choice)
            assert len(seq) <= budget
            assert tokenizer.grammar_errors(seq, bars=bars, time_signature=ts, require_eos=True) == 0


@pytest.mark.parametrize("min_notes", [1, 3])
def test_grammar_min_notes_holds_even_against_a_model_that_wants_empty_bars(tokenizer, min_notes):
    """A chooser that takes Bar or EOS whenever allowed still ends with min_notes notes, valid, in budget."""
    from cadenza_hf.tokenization.grammar import Kind

    rng = np.random.default_rng(1)
    bar_id, eos_id = tokenizer.convert_tokens_to_ids("Bar_None"), tokenizer.eos_token_id
    for track, bars, ts in [(Kind.PITCH, 4, (4, 4)), (Kind.DRUM, 2, (3, 4))]:
        for budget in (16, 200):
            state = tokenizer.grammar.new_state(
                bars=bars, bar_ticks=tokenizer.bar_ticks(ts), mode="composition", track=track, min_notes=min_notes
            )
            seq = [tokenizer.bos_token_id]
            tokenizer.grammar.step(state, seq[0])
            while not state.done:
                mask = tokenizer.grammar.allowed_mask(state, remaining=budget - len(seq))
                assert mask.any(), tokenizer.convert_ids_to_tokens(seq)
                preferred = [t for t in (eos_id, bar_id) if mask[t]]
                choice = preferred[0] if preferred else int(rng.choice(np.flatnonzero(mask)))
                assert tokenizer.grammar.step(state, choice) == 0
                seq.append(choice)
            assert len(seq) <= budget and state.notes == min_notes
            assert tokenizer.grammar_errors(seq, bars=bars, time_signature=ts, require_eos=True) == 0
    # the checking grammar (min_notes=0) still accepts an excerpt of empty bars: it is valid PerTok
    empty = [tokenizer.bos_token_id] + [bar_id] * 4 + [eos_id]
    assert tokenizer.grammar_errors(empty, bars=4, require_eos=True) == 0


SETTINGS = [
    {},
    {"grids": [16, 12], "num_velocities": 16, "use_durations": False},
    {"use_microtiming": False, "pitch_range": [36, 96], "ticks_per_quarter": 960},
    {"grids": [32, 24], "max_microtiming_shift": 0.0625, "num_microtiming_bins": 10, "max_duration_beats": 8.0},
]


@pytest.mark.parametrize("settings", SETTINGS)
def test_save_load_round_trip(settings, tmp_path):
    tok = PerTokTokenizer(**settings)
    midi = simple_midi([(i * 160 + (i % 3) * 7, 150, 55 + i % 12, 30 + i * 3) for i in range(24)])
    ids = tok.encode_midi(midi)
    tok.save_pretrained(tmp_path)
    assert not (tmp_path / "tokenizer.json").exists()
    saved = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert saved["tokenizer_class"] == "PerTokTokenizer"
    for key, value in settings.items():
        assert saved[key] == value
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert type(loaded) is PerTokTokenizer
    assert loaded.get_vocab() == tok.get_vocab()
    assert loaded.settings == tok.settings
    assert loaded.microtiming_tick_values == tok.microtiming_tick_values
    assert loaded.encode_midi(midi) == ids
    assert [loaded.pad_token_id, loaded.bos_token_id, loaded.eos_token_id, loaded.mask_token_id] == [0, 1, 2, 3]


def test_microtiming_off_has_no_microtiming_tokens():
    tok = PerTokTokenizer(use_microtiming=False)  # upstream raises KeyError here
    ids = tok.encode_midi(simple_midi())
    assert not any(t.startswith("MicroTiming") for t in tok.convert_ids_to_tokens(ids))
    assert tok.grammar_errors(ids, bars=4) == 0
    assert tok.microtiming_tick_values == []


def test_vocab_file_mismatch_is_refused(tmp_path):
    PerTokTokenizer().save_pretrained(tmp_path)
    vocab = json.loads((tmp_path / "vocab.json").read_text())
    vocab["Pitch_60"], vocab["Pitch_61"] = vocab["Pitch_61"], vocab["Pitch_60"]
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(ValueError, match="differs"):
        AutoTokenizer.from_pretrained(tmp_path)


@pytest.mark.parametrize(
    "bad",
    [{"grids": [16, 16]}, {"grids": [7]}, {"pitch_range": [100, 20]}, {"num_velocities": 0}, {"ticks_per_quarter": 0}],
)
def test_bad_settings_raise(bad):
    with pytest.raises(ValueError):
        PerTokTokenizer(**bad)


def test_excerpt_is_not_mutated_by_encoding(tokenizer):
    excerpt = tokenizer.extract_excerpt(simple_midi([(i * 240, 200, 60, 1 + i * 3) for i in range(32)]))
    before = excerpt.score.tracks[0].notes.numpy()["velocity"].copy()
    tokenizer.encode_excerpt(excerpt)
    assert (excerpt.score.tracks[0].notes.numpy()["velocity"] == before).all()


def test_save_midi_is_atomic_and_valid(tokenizer, tmp_path):
    ids = tokenizer.encode_midi(simple_midi())
    path = tokenizer.save_midi(ids, tmp_path / "out.mid")
    assert [p.name for p in tmp_path.iterdir()] == ["out.mid"]
    assert symusic.Score(str(path)).note_num() == 32


def test_cli_example_and_roundtrip(tmp_path):
    import os
    import subprocess
    import sys

    idea, out = tmp_path / "idea.mid", tmp_path / "rt.mid"
    run = [sys.executable, "-m", "cadenza_hf.cli"]
    subprocess.run([*run, "example", str(idea)], check=True, capture_output=True)
    res = subprocess.run([*run, "roundtrip", str(idea), "-o", str(out)], capture_output=True, text=True)
    assert res.returncode == 0 and str(out) in res.stdout
    assert symusic.Score(str(out)).note_num() == symusic.Score(str(idea)).note_num() == 35
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    bad = subprocess.run(
        [*run, "roundtrip", str(tmp_path / "missing.mid"), "-o", str(tmp_path / "x.mid")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "missing.mid: cannot read file" in bad.stderr
    assert not (tmp_path / "x.mid").exists()


def test_performance_families_are_listed_in_value_order(tokenizer):
    # the performer's median estimate reads each family in this order
    def values(ids):
        return [int(t.split("_")[1]) for t in tokenizer.convert_ids_to_tokens(ids)]

    for ids, prefix in ((tokenizer.velocity_ids, "Velocity_"), (tokenizer.microtiming_ids, "MicroTiming_")):
        assert all(t.startswith(prefix) for t in tokenizer.convert_ids_to_tokens(ids))
        assert values(ids) == sorted(values(ids)) and len(set(values(ids))) == len(ids) > 2
