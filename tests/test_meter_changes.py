"""Ideas whose bars change meter (issue 14): 4/4, 3/4, 5/4, 4/4 inside one window, end to end.

Every file here is written by the test with symusic. The models are the tiny random ones of
``tests/tiny_models.py``: what is checked is that the outputs are valid (grammar, bars,
meters, window), not that they are musical.
"""

from __future__ import annotations

import numpy as np
import pytest
import symusic
import torch
from transformers import pipeline

from cadenza_hf import MidiInputError, read_midi
from cadenza_hf import cli as cadenza_cli
from cadenza_hf.generation.logits_process import PerTokGrammarLogitsProcessor
from cadenza_hf.tokenization.excerpt import count_bars

from .tiny_models import save_tiny_checkpoints

TPQ = 480
METERS = [(4, 4), (3, 4), (5, 4), (4, 4)]  # 4 + 3 + 5 + 4 = 16 quarters
LENGTHS = [1920, 1440, 2400, 1920]
STARTS = [0, 1920, 3360, 5760]
WINDOW = 7680  # the same length as four 4/4 bars: the meter changes must still be seen


def _bar_lengths(meters):
    return [TPQ * 4 * num // den for num, den in meters]


def _score(meters=METERS, notes=None, more_bars_in_last_meter: int = 0, program: int = 4):
    """A one-track score: a time signature at each bar whose meter differs from the last one, 96 bpm."""
    score = symusic.Score(TPQ)
    start = 0
    for i, (num, den) in enumerate(meters):
        if i == 0 or meters[i - 1] != (num, den):
            score.time_signatures.append(symusic.TimeSignature(start, num, den))
        start += TPQ * 4 * num // den
    score.tempos.append(symusic.Tempo(0, qpm=96.0))
    track = symusic.Track(name="Keys", program=program)
    if notes is None:
        notes = _played_notes(meters)
    track.notes = [symusic.Note(t, d, p, v) for t, d, p, v in notes]
    score.tracks.append(track)
    return score


def _played_notes(meters=METERS, hard_cases=True):
    """Eighth notes in every bar, played a little off the grid, plus three hard cases: a note just
    before the second bar's line (its downbeat played early), one just before the window's end (an
    anticipation of the next downbeat, which wraps to the start) and one lasting past the window."""
    notes, bar_start = [], 0
    k = 0
    for length in _bar_lengths(meters):
        for pos in range(0, length, 240):
            offset = 0 if bar_start + pos == 0 else (k * 37) % 41 - 20
            notes.append((bar_start + pos + offset, 200, 60 + (k * 5) % 24, 40 + (k * 13) % 80))
            k += 1
        bar_start += length
    end = bar_start
    if not hard_cases:
        return notes
    notes.append((_bar_lengths(meters)[0] - 5, 120, 84, 90))
    notes.append((end - 7, 60, 86, 100))
    notes.append((end - 960, 3000, 48, 70))
    return sorted(notes)


def _write(tmp_path, score, name="changing.mid"):
    path = tmp_path / name
    score.dump_midi(str(path))
    return str(path)


def _signatures(score):
    return [(int(ts.time), ts.numerator, ts.denominator) for ts in score.time_signatures]


def _onsets(score):
    notes = score.tracks[0].notes.numpy()
    order = np.lexsort((notes["pitch"], notes["time"]))
    return notes["time"][order].astype(np.int64), notes["pitch"][order]


@pytest.fixture(scope="module")
def changing_file(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("meters"), _score())


# ---- cutting, encoding, decoding ----------------------------------------------------------------
def test_window_keeps_each_bars_meter(tokenizer, changing_file):
    excerpt = tokenizer.extract_excerpt(changing_file)
    meta = excerpt.meta
    assert meta.bar_meters == METERS and meta.time_signature == (4, 4)
    assert meta.meters == METERS and meta.bar_lengths == LENGTHS and meta.meter == tuple(METERS)
    assert _signatures(excerpt.score) == [(s, *m) for s, m in zip(STARTS, METERS)]
    assert excerpt.score.note_num() == read_midi(changing_file).note_num()  # every note of the idea is in


def test_round_trip_keeps_every_note(tokenizer, changing_file):
    excerpt = tokenizer.extract_excerpt(changing_file)
    ids = tokenizer.encode_excerpt(excerpt)
    assert tokenizer.grammar_errors(ids, bars=4, time_signature=excerpt.meta.meter, require_eos=True) == 0
    assert tokenizer.convert_ids_to_tokens(ids).count("Bar_None") == 4
    decoded = tokenizer.decode_midi(ids, excerpt)
    assert _signatures(decoded) == [(0, 4, 4), (1920, 3, 4), (3360, 5, 4), (5760, 4, 4)]
    half_bin = tokenizer.settings["max_microtiming_shift"] * TPQ / tokenizer.settings["num_microtiming_bins"]
    (src, src_pitch), (out, out_pitch) = _onsets(excerpt.score), _onsets(decoded)
    assert len(src) == len(out) == len(_played_notes())
    assert (src_pitch == out_pitch).all() and np.abs(src - out).max() <= half_bin
    notes = decoded.tracks[0].notes.numpy()
    assert (notes["time"] + notes["duration"]).max() <= WINDOW  # the long note is cut at the window's end
    written = read_midi(tokenizer.decode_to_midi_bytes(ids, excerpt))
    assert _signatures(written) == _signatures(decoded) and written.note_num() == len(_played_notes())


def test_positions_count_from_each_bars_own_line(tokenizer, tmp_path):
    notes = [(start + beat * TPQ, 240, 60 + i, 80) for i, start in enumerate(STARTS) for beat in (0, 2)]
    excerpt = tokenizer.extract_excerpt(_write(tmp_path, _score(notes=notes)))
    tokens = tokenizer.convert_ids_to_tokens(tokenizer.composition_ids(tokenizer.encode_excerpt(excerpt)))
    bar = ["Bar_None", "Pitch_{}", "Duration_0.240.480", "TimeShift_2.0.480", "Pitch_{}", "Duration_0.240.480"]
    want = [t.format(60 + i) for i in range(4) for t in bar]
    assert tokens == ["BOS_None", *want, "EOS_None"]
    decoded = tokenizer.decode_midi(tokenizer.encode_excerpt(excerpt), excerpt)
    assert decoded.tracks[0].notes.numpy()["time"].tolist() == [n[0] for n in notes]


def test_a_bar_cut_short_by_a_meter_change_gets_the_meter_of_its_length(tokenizer, tmp_path):
    score = _score(meters=[(4, 4)], notes=[(i * 240, 200, 60 + i % 12, 80) for i in range(24)])  # 4 + 2 + 3 + 3 beats
    score.time_signatures.append(symusic.TimeSignature(1920 + 960, 3, 4))  # two beats into bar 1
    excerpt = tokenizer.extract_excerpt(_write(tmp_path, score))
    assert excerpt.meta.bar_meters == [(4, 4), (2, 4), (3, 4), (3, 4)]
    ids = tokenizer.encode_excerpt(excerpt)
    assert tokenizer.grammar_errors(ids, bars=4, time_signature=excerpt.meta.meter, require_eos=True) == 0
    decoded = tokenizer.decode_midi(ids, excerpt)
    assert _signatures(decoded) == [(0, 4, 4), (1920, 2, 4), (2880, 3, 4)]
    assert decoded.note_num() == 24 and (_onsets(decoded)[0] == _onsets(excerpt.score)[0]).all()


def test_one_meter_windows_are_cut_as_before(tokenizer, tmp_path):
    """A window inside one meter of a file that changes meter later encodes like the same notes in a 4/4 file."""
    notes = [(i * 240 + (i * 7) % 11, 200, 60 + i % 12, 80) for i in range(32)]
    changing = _score(meters=[(4, 4)] * 4 + [(3, 4)], notes=notes)
    plain = _score(meters=[(4, 4)], notes=notes)
    a = tokenizer.extract_excerpt(_write(tmp_path, changing, "a.mid"))
    b = tokenizer.extract_excerpt(_write(tmp_path, plain, "b.mid"))
    assert a.meta.bar_meters is None and a.meta.meter == (4, 4) and _signatures(a.score) == [(0, 4, 4)]
    assert tokenizer.encode_excerpt(a) == tokenizer.encode_excerpt(b)
    assert "bar_meters" in a.meta.to_dict() and a.meta.from_dict(a.meta.to_dict()) == a.meta


def test_meter_option_reads_every_bar_in_one_meter(tokenizer, changing_file):
    excerpt = tokenizer.extract_excerpt(changing_file, meter=(4, 4))
    assert excerpt.meta.bar_meters is None and _signatures(excerpt.score) == [(0, 4, 4)]
    ids = tokenizer.encode_excerpt(excerpt)
    assert tokenizer.grammar_errors(ids, bars=4, time_signature=(4, 4), require_eos=True) == 0
    assert _signatures(tokenizer.decode_midi(ids, excerpt)) == [(0, 4, 4)]


def test_dataset_windows_across_a_meter_change_are_still_skipped(tokenizer, changing_file):
    single = tokenizer.track_score(read_midi(changing_file), 0)
    with pytest.raises(MidiInputError, match="the meter changes inside bars 0-3"):
        tokenizer.cut_excerpt(single, 0, 4, meter_changes=False)  # 16 quarters, like four 4/4 bars: still refused
    assert tokenizer.cut_excerpt(single, 0, 4).meta.bar_meters == METERS


def test_a_long_idea_across_many_meters_is_counted_in_its_own_bars(tokenizer, tmp_path):
    meters = [(4, 4), (7, 8), (3, 4), (5, 4), (6, 8), (4, 4), (2, 4), (4, 4)]
    score = _score(meters=meters, notes=_played_notes(meters, hard_cases=False))
    excerpt = tokenizer.extract_excerpt(_write(tmp_path, score), bars=8)
    assert excerpt.meta.bar_meters == meters and count_bars(score) == 8
    ids = tokenizer.encode_excerpt(excerpt)
    assert tokenizer.grammar_errors(ids, bars=8, time_signature=excerpt.meta.meter, require_eos=True) == 0
    decoded = tokenizer.decode_midi(ids, excerpt)
    assert decoded.note_num() == excerpt.score.note_num()
    assert [m[1:] for m in _signatures(decoded)] == [meters[0]] + [
        m for i, m in enumerate(meters) if i and m != meters[i - 1]
    ]


# ---- grammar --------------------------------------------------------------------------------------
def _ids(tokenizer, text):
    return tokenizer(text)["input_ids"]


def test_a_position_past_a_three_four_bar_is_an_error(tokenizer):
    note = "Pitch_60 Duration_0.240.480"
    # bar 2 (3/4, 1440 ticks) holds a note at 1560: fine in 4/4, past the bar's end in 3/4
    text = f"Bar_None {note} Bar_None TimeShift_3.120.480 {note} Bar_None {note} Bar_None {note}"
    ids = _ids(tokenizer, text)
    assert tokenizer.grammar_errors(ids, bars=4, time_signature=(4, 4)) == 0
    assert tokenizer.grammar_errors(ids, bars=4, time_signature=tuple(METERS)) == 2  # the shift and the note
    assert tokenizer.grammar.count_errors(ids, 4, LENGTHS) == 2
    # and a 5/4 bar (bar 3) may hold a note at 2040, which a 4/4 bar may not
    text = f"Bar_None {note} Bar_None {note} Bar_None TimeShift_4.0.480 TimeShift_0.120.480 {note} Bar_None {note}"
    ids = _ids(tokenizer, text)
    assert tokenizer.grammar_errors(ids, bars=4, time_signature=tuple(METERS)) == 0
    assert tokenizer.grammar_errors(ids, bars=4, time_signature=(4, 4)) > 0


def test_grammar_processor_uses_the_current_bars_length(tokenizer):
    processor = PerTokGrammarLogitsProcessor(tokenizer, bars=4, time_signature=tuple(METERS), max_length=400)
    shift_ticks = {i: int(tokenizer.grammar.shift_ticks[i]) for i in tokenizer.token_families["timeshift"]}

    def allowed_shifts(text):
        prefix = torch.tensor([_ids(tokenizer, text)[:-1]])  # drop the EOS the tokenizer adds
        scores = processor(prefix, torch.zeros(1, tokenizer.vocab_size))
        return {shift_ticks[i] for i in shift_ticks if torch.isfinite(scores[0, i])}

    in_four_four = allowed_shifts("Bar_None Pitch_60 Duration_0.240.480")
    in_three_four = allowed_shifts("Bar_None Pitch_60 Duration_0.240.480 Bar_None Pitch_60 Duration_0.240.480")
    in_five_four = allowed_shifts("Bar_None Bar_None Bar_None Pitch_60 Duration_0.240.480")
    assert max(in_four_four) == 1800 and max(in_three_four) == 1320
    assert max(in_five_four) == 1920 and 1440 in in_five_four  # the largest shift, then more may follow


# ---- pipelines and CLI -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory, tokenizer):
    return save_tiny_checkpoints(tmp_path_factory.mktemp("checkpoints"), tokenizer)


def _check_output(tokenizer, result, reference):
    ids = result["input_ids"]
    assert tokenizer.grammar_errors(ids, bars=4, time_signature=reference.meter, require_eos=True) == 0
    assert tokenizer.convert_ids_to_tokens(ids).count("Bar_None") == 4
    for score in (result["score"], read_midi(result["midi"])):
        assert _signatures(score) == [(0, 4, 4), (1920, 3, 4), (3360, 5, 4), (5760, 4, 4)]
        notes = score.tracks[0].notes.numpy()
        assert len(notes["time"]) and (notes["time"] >= 0).all() and (notes["time"] < WINDOW).all()
        assert (notes["time"] + notes["duration"]).max() <= WINDOW


def test_variation_pipeline_keeps_the_meters(tokenizer, tiny_root, changing_file):
    pipe = pipeline(
        "midi-variation",
        model=str(tiny_root / "composer"),
        performer=[str(tiny_root / "performer-drums"), str(tiny_root / "performer-pitched")],
    )
    reference = tokenizer.extract_excerpt(changing_file).meta
    results = pipe(changing_file, num_variations=3, seed=0)
    assert len(results) == 3
    for result in results:
        _check_output(tokenizer, result, reference)
    # a locked 3/4 bar comes back as it was, in its own bar
    (locked,) = pipe(changing_file, num_variations=1, seed=1, keep_bars=[2])
    _check_output(tokenizer, locked, reference)
    bars = " ".join(tokenizer.convert_ids_to_tokens(locked["composition_ids"])).split("Bar_None")
    idea = tokenizer.composition_ids(tokenizer.encode_excerpt(tokenizer.extract_excerpt(changing_file)))
    assert bars[2] == " ".join(tokenizer.convert_ids_to_tokens(idea)).split("Bar_None")[2]


def test_performance_pipeline_keeps_the_meters_and_the_notes(tokenizer, tiny_root, changing_file):
    pipe = pipeline(
        "midi-performance", model=str(tiny_root / "performer-pitched"), performer=str(tiny_root / "performer-drums")
    )
    excerpt = tokenizer.extract_excerpt(changing_file)
    result = pipe(changing_file, seed=0)
    _check_output(tokenizer, result, excerpt.meta)
    assert result["composition_ids"] == tokenizer.composition_ids(tokenizer.encode_excerpt(excerpt))
    assert result["score"].note_num() == excerpt.score.note_num()


def _run(argv, capsys):
    code = cadenza_cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_vary_and_perform_a_file_that_changes_meter(tiny_root, changing_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CADENZA_CHECKPOINTS", str(tiny_root))
    code, out, err = _run(["vary", changing_file, "-o", tmp_path / "out", "-n", "2", "--seed", "0"], capsys)
    assert code == 0, err
    assert "bars 0-3 in 4/4, 3/4, 5/4, 4/4" in out
    for i in (1, 2):
        written = read_midi(str(tmp_path / "out" / f"changing_var{i}.mid"))
        assert _signatures(written) == [(0, 4, 4), (1920, 3, 4), (3360, 5, 4), (5760, 4, 4)]
        assert written.end() <= WINDOW
    code, out, err = _run(["perform", changing_file, "-o", tmp_path / "p.mid", "--seed", "0"], capsys)
    assert code == 0, err
    performed = read_midi(str(tmp_path / "p.mid"))
    assert _signatures(performed)[1:] == [(1920, 3, 4), (3360, 5, 4), (5760, 4, 4)] and performed.note_num() == len(
        _played_notes()
    )
    code, out, err = _run(["vary", changing_file, "-o", tmp_path / "flat", "-n", "1", "--meter", "4/4"], capsys)
    assert code == 0, err
    assert _signatures(read_midi(str(tmp_path / "flat" / "changing_var1.mid"))) == [(0, 4, 4)]


# ---- real files ----------------------------------------------------------------------------------
def test_real_asap_windows_across_meter_changes_round_trip(tokenizer, data_dir):
    """Every 4-bar window across a meter change in some ASAP scores keeps its notes."""
    half_bin = tokenizer.settings["max_microtiming_shift"] * TPQ / tokenizer.settings["num_microtiming_bins"]
    files = sorted((data_dir / "asap").glob("*/*/*/midi_score.mid"))[:60]
    if not files:
        pytest.skip("no ASAP scores")
    checked = 0
    for path in files:
        score = read_midi(str(path))
        if len({(ts.numerator, ts.denominator) for ts in score.time_signatures}) < 2:
            continue
        for bar in range(0, count_bars(score) - 3):
            try:
                excerpt = tokenizer.extract_excerpt(score, track=0, start_bar=bar)
            except MidiInputError:
                continue
            if not excerpt.meta.bar_meters:
                continue
            ids = tokenizer.encode_excerpt(excerpt)
            name = f"{path.parent.name} bar {bar}"
            assert tokenizer.grammar_errors(ids, bars=4, time_signature=excerpt.meta.meter) == 0, name
            decoded = tokenizer.decode_midi(ids, excerpt)
            (src, src_pitch), out = _onsets(excerpt.score), _onsets(decoded)[0]
            lo, hi = tokenizer.settings["pitch_range"]
            kept = (src_pitch >= lo) & (src_pitch <= hi)
            assert len(out) == kept.sum(), name
            assert np.abs(np.sort(src[kept]) - np.sort(out)).max() <= half_bin, name
            checked += 1
    assert checked >= 10
