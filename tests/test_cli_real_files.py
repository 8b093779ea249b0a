"""Issue 14 from the command line: odd-but-valid files accepted, option errors as one line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cadenza_hf import cli as cadenza_cli
from cadenza_hf import read_midi

from .midi_factory import header, notes_events, simple_midi, time_signature, track_chunk, unusual_valid_files
from .tiny_models import save_tiny_checkpoints

UNUSUAL = unusual_valid_files()


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory, tokenizer):
    return save_tiny_checkpoints(tmp_path_factory.mktemp("checkpoints"), tokenizer)


@pytest.fixture(autouse=True)
def shipped(tiny_root, monkeypatch):
    monkeypatch.setenv("CADENZA_CHECKPOINTS", str(tiny_root))


@pytest.fixture(scope="session")
def groove_file(data_dir):
    return str(sorted((data_dir / "groove" / "drummer1" / "session1").glob("*beat*.mid"))[0])


def _run(argv, capsys):
    code = cadenza_cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _idea(tmp_path, data: bytes, name: str = "idea.mid") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name", sorted(UNUSUAL))
def test_unusual_valid_files_are_varied(name, tmp_path, capsys):
    path = _idea(tmp_path, UNUSUAL[name], f"{name}.mid")
    code, out, err = _run(["vary", path, "-o", tmp_path / "out", "-n", "1", "--seed", "3"], capsys)
    assert code == 0, err
    written = tmp_path / "out" / f"{name}_var1.mid"
    assert written.exists() and str(written) in out
    assert read_midi(str(written)).note_num() >= 0


def test_a_late_file_uses_its_first_bars_with_notes_and_says_so(tmp_path, capsys):
    path = _idea(tmp_path, UNUSUAL["starts_at_bar_1000"])
    code, out, err = _run(["vary", path, "-o", tmp_path / "out", "-n", "1", "--seed", "0"], capsys)
    assert code == 0, err
    assert "bars 1000-1003 (no --start-bar: the first bars with notes)" in out
    code, _, err = _run(["vary", path, "-o", tmp_path / "out2", "--start-bar", "0"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "no notes in bars 0-3 (its notes lie in bars 1000-1001" in err
    assert not (tmp_path / "out2").exists()


def test_busiest_track_starting_late_is_found_and_named_as_track_takes_it(tmp_path, capsys):
    busy = [(8 * 1920 + i * 240, 200, 60 + i % 7, 80) for i in range(24)]
    data = header(1, 3) + track_chunk(time_signature(4, 2)) + track_chunk(notes_events([(0, 480, 72, 80)]))
    path = _idea(tmp_path, data + track_chunk(notes_events(busy)))
    code, _, err = _run(["vary", path, "-o", tmp_path / "out", "--start-bar", "0"], capsys)
    assert code == 2 and "track 1 (unnamed) has no notes in bars 0-3 (its notes lie in bars 8-10" in err
    code, out, err = _run(["vary", path, "-o", tmp_path / "out", "-n", "1", "--seed", "0"], capsys)
    assert code == 0 and "track 1 (unnamed), bars 8-11 (no --start-bar: the first bars with notes)" in out, err


def test_a_one_beat_meter_is_refused_with_the_fix_and_the_fix_works(tmp_path, capsys):
    path = _idea(tmp_path, simple_midi([(i * 240, 200, 60 + i % 5, 80) for i in range(32)], ts=(1, 2)))
    code, _, err = _run(["vary", path, "-o", tmp_path / "out"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--meter 4/4" in err and "1/4" in err
    assert not (tmp_path / "out").exists()
    code, out, err = _run(["vary", path, "-o", tmp_path / "out", "-n", "1", "--meter", "4/4", "--seed", "0"], capsys)
    assert code == 0, err
    code, out, err = _run(["roundtrip", path, "-o", tmp_path / "rt.mid", "--meter", "4/4"], capsys)
    assert code == 0, err
    score = read_midi(str(tmp_path / "rt.mid"))
    assert (score.time_signatures[0].numerator, score.time_signatures[0].denominator) == (4, 4)
    assert score.note_num() == 32


def test_two_four_is_pointed_out(tmp_path, capsys):
    path = _idea(tmp_path, UNUSUAL["two_four"])
    code, out, err = _run(["vary", path, "-o", tmp_path / "out", "-n", "1", "--seed", "0"], capsys)
    assert code == 0, err
    assert "in 2/4 (4 bars are 8 beats; for music in 4/4 pass --meter 4/4)" in out


def test_meter_change_inside_the_window_keeps_each_bars_meter(tmp_path, capsys):
    path = _idea(tmp_path, UNUSUAL["meter_changes_after_the_idea"])
    code, out, err = _run(["vary", path, "-o", tmp_path / "out", "-n", "1", "--start-bar", "2", "--seed", "0"], capsys)
    assert code == 0, err
    assert "bars 2-5 in 4/4, 4/4, 3/4, 3/4" in out
    written = read_midi(str(tmp_path / "out" / "idea_var1.mid"))
    assert [(ts.time, ts.numerator, ts.denominator) for ts in written.time_signatures] == [(0, 4, 4), (3840, 3, 4)]
    assert written.end() <= 2 * 1920 + 2 * 1440


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--strength", "nan"], "variation_strength must be in [0, 1], got nan"),
        (["--temperature", "nan"], "--temperature must be >= 0, got nan"),
        (["--performer", "drums=/no/such/folder"], "performer folder /no/such/folder does not exist"),
        (["--bars", "64"], "bars=64 is over the composer's limit of 25 bars (800 positions, 32 per bar)"),
        (["--bars", "1000"], "bars=1000 is over the composer's limit of 25 bars"),
        (["--meter", "4/0"], "--meter: meter 4/0"),
        (["--meter", "four"], "--meter: a meter looks like 4/4"),
    ],
)
def test_option_errors_are_one_line(argv, match, tmp_path, capsys):
    path = _idea(tmp_path, simple_midi())
    code, _, err = _run(["vary", path, "-o", tmp_path / "out", *argv], capsys)
    assert code == 2 and match in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["melody", "polyphonic"])
def test_drum_file_as_a_pitched_kind_is_one_line(kind, groove_file, tmp_path, capsys):
    code, _, err = _run(["vary", groove_file, "-o", tmp_path / "out", "--kind", kind], capsys)
    assert code == 2 and f"a drums input cannot be varied as {kind}" in err and err.count("\n") == 1


def test_unwritable_output_is_found_before_composing(tmp_path, capsys, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    composed = []
    monkeypatch.setattr("cadenza_hf.cli.music._variation_pipeline", lambda args: composed.append(1))
    code, _, err = _run(["vary", _idea(tmp_path, simple_midi()), "-o", tmp_path / "out"], capsys)
    assert code == 2 and "folder is not writable (Read-only file system)" in err and not composed


def test_greedy_duplicates_are_reported(tmp_path, capsys, caplog):
    argv = ["vary", _idea(tmp_path, simple_midi()), "-o", tmp_path / "out", "-n", "3", "--seed", "0"]
    with caplog.at_level(logging.WARNING):
        code, _, err = _run([*argv, "--temperature", "0", "--strength", "0"], capsys)
    assert code == 0, err
    assert "warning: 2 of 3 variations repeat the composition of an earlier one" in err


def test_count_duplicates():
    from cadenza_hf.pipelines.results import count_duplicates

    assert count_duplicates([[1, 2], [1, 2], [3], [1, 2]]) == 2
    assert count_duplicates([[1, 2], [2, 1]]) == 0


def test_malformed_files_are_one_line_and_write_nothing(tmp_path, capsys):
    good = simple_midi()
    for i, data in enumerate([good[:-20], b"MThd" + good[4:14], good[:14] + b"MTrk\xff\xff\xff\xff"]):
        path = _idea(tmp_path, data, f"bad{i}.mid")
        code, _, err = _run(["vary", path, "-o", tmp_path / f"out{i}"], capsys)
        assert code == 2 and err.count("\n") == 1 and str(path) in err, err
        assert not (tmp_path / f"out{i}").exists()
