"""The ``cadenza`` command: every command on real files, determinism, and every bad-input class."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cadenza_hf import cli as cadenza_cli
from cadenza_hf.examples import example_beat

from .midi_factory import simple_midi
from .tiny_models import save_tiny_checkpoints


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory, tokenizer):
    return save_tiny_checkpoints(tmp_path_factory.mktemp("checkpoints"), tokenizer)


@pytest.fixture(autouse=True)
def shipped(tiny_root, monkeypatch):
    """The tiny checkpoints stand in for the shipped ones."""
    monkeypatch.setenv("CADENZA_CHECKPOINTS", str(tiny_root))


@pytest.fixture(scope="session")
def pop909_file(data_dir):
    return str(data_dir / "pop909" / "001" / "001.mid")


@pytest.fixture(scope="session")
def groove_file(data_dir):
    return str(sorted((data_dir / "groove" / "drummer1" / "session1").glob("*beat*.mid"))[0])


def _run(argv, capsys):
    code = cadenza_cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_vary_writes_variations_and_a_plot_and_repeats_byte_for_byte(pop909_file, tmp_path, capsys):
    argv = ["vary", pop909_file, "--track", "PIANO", "--start-bar", "4", "-n", "2", "--seed", "11", "--plot"]
    code, out, err = _run([*argv, "-o", tmp_path / "a"], capsys)
    assert code == 0, err
    assert _files(tmp_path / "a") == ["001_var1.mid", "001_var2.mid", "001_variations.png"]
    assert "seed 11" in out and str(tmp_path / "a" / "001_var1.mid") in out
    assert _run([*argv, "-o", tmp_path / "b"], capsys)[0] == 0
    for name in _files(tmp_path / "a"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "001_variations.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_vary_without_seed_prints_the_seed_it_drew(pop909_file, tmp_path, capsys):
    code, out, _ = _run(["vary", pop909_file, "-n", "1", "-o", tmp_path / "x"], capsys)
    seed = int(out.split("seed ")[1].split()[0])
    assert code == 0 and _run(["vary", pop909_file, "-n", "1", "-o", tmp_path / "y", "--seed", seed], capsys)[0] == 0
    assert (tmp_path / "x" / "001_var1.mid").read_bytes() == (tmp_path / "y" / "001_var1.mid").read_bytes()


@pytest.mark.parametrize("kind", ["drums", "melody", "polyphonic"])
def test_generate(kind, tmp_path, capsys):
    code, out, err = _run(
        ["generate", "-n", "2", "--kind", kind, "--seed", "3", "--time-signature", "3/4", "-o", tmp_path], capsys
    )
    assert code == 0, err
    assert _files(tmp_path) == [f"{kind}_idea1.mid", f"{kind}_idea2.mid"]


def test_perform_routes_a_real_drum_file_and_keeps_its_notes(groove_file, tmp_path, capsys, tokenizer):
    from cadenza_hf import read_midi

    code, out, err = _run(["perform", groove_file, "-o", tmp_path / "p.mid", "--seed", "1"], capsys)
    assert code == 0, err
    score = read_midi(str(tmp_path / "p.mid"))
    assert score.tracks[0].is_drum and score.note_num() == tokenizer.extract_excerpt(groove_file).score.note_num()
    assert (
        _run(
            [
                "perform",
                groove_file,
                "-o",
                tmp_path / "q.mid",
                "--seed",
                "1",
                "--performer",
                f"drums={os.environ['CADENZA_CHECKPOINTS']}/performer-drums",
            ],
            capsys,
        )[0]
        == 0
    )
    assert (tmp_path / "p.mid").read_bytes() == (tmp_path / "q.mid").read_bytes()
    argv = ["perform", groove_file, "--temperature", "0", "--point-estimate", "median"]
    assert _run([*argv, "-o", tmp_path / "m1.mid", "--seed", "1"], capsys)[0] == 0
    assert _run([*argv, "-o", tmp_path / "m2.mid", "--seed", "2"], capsys)[0] == 0
    assert (tmp_path / "m1.mid").read_bytes() == (tmp_path / "m2.mid").read_bytes()  # no randomness at T=0


def test_interpolate(pop909_file, tmp_path, capsys):
    beat = tmp_path / "beat.mid"
    beat.write_bytes(example_beat().dumps_midi())
    argv = ["interpolate", pop909_file, pop909_file, "--start-bar", "8", "--steps", "3", "--seed", "0", "--plot"]
    code, out, err = _run([*argv, "-o", tmp_path / "i"], capsys)
    assert code == 0, err
    assert _files(tmp_path / "i") == ["001_to_001.png", "001_to_001_1.mid", "001_to_001_2.mid", "001_to_001_3.mid"]
    code, _, err = _run(["interpolate", pop909_file, beat, "-o", tmp_path / "j"], capsys)
    assert code == 2 and "drum track and a pitched track" in err and not (tmp_path / "j").exists()


def test_explicit_models(tiny_root, pop909_file, tmp_path, capsys):
    argv = [
        "vary",
        pop909_file,
        "-n",
        "1",
        "--seed",
        "2",
        "--composer",
        tiny_root / "composer",
        "--performer",
        tiny_root / "performer-pitched",
        "-o",
        tmp_path,
    ]
    assert _run(argv, capsys)[0] == 0


# ---- bad input: one line on stderr, exit 2, no output left behind -------------------------
def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    files = {
        "missing": tmp_path / "missing.mid",
        "text": tmp_path / "notes.mid",
        "empty": tmp_path / "empty.mid",
        "truncated": tmp_path / "cut.mid",
        "folder": tmp_path / "a_folder.mid",
    }
    files["text"].write_text("these are not MIDI bytes at all")
    files["empty"].write_bytes(b"")
    files["truncated"].write_bytes(simple_midi()[:-20])
    files["folder"].mkdir()
    return files


@pytest.mark.parametrize(
    "case, match",
    [
        ("missing", "cannot read file"),
        ("text", "not a MIDI file"),
        ("empty", "empty input"),
        ("truncated", "truncated"),
        ("folder", "is a directory"),
    ],
)
@pytest.mark.parametrize("command", ["vary", "perform"])
def test_unreadable_inputs(case, match, command, tmp_path, capsys):
    path = _bad_inputs(tmp_path)[case]
    out = tmp_path / "out"
    argv = [command, path, "-o", out / "p.mid" if command == "perform" else out]
    if command == "perform":
        out.mkdir()
    code, _, err = _run(argv, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"cadenza {command}: error: {path}")
    assert match in err
    assert _files(out) == []


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--track", "DRUMS"], "no track named 'DRUMS'"),
        (["--track", "9"], "track 9 does not exist"),
        (["--start-bar", "5000"], "is past the end"),
        (["--strength", "1.5"], "variation_strength must be in [0, 1], got 1.5"),
        (["-n", "0"], "-n must be in [1, 64]"),
        (["--bars", "0"], "--bars must be >= 1"),
        (["--temperature", "-1"], "--temperature must be >= 0"),
        (["--composer", "/nonexistent/composer"], "cannot load the models"),
        (["--performer", "drums=/x", "--performer", "/y"], "name the kind of every performer"),
    ],
)
def test_bad_options(pop909_file, argv, match, tmp_path, capsys):
    code, _, err = _run(["vary", pop909_file, "-o", tmp_path / "out", *argv], capsys)
    assert code == 2 and match in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_bad_output_locations(pop909_file, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, _, err = _run(["vary", pop909_file, "-o", afile], capsys)
    assert code == 2 and "exists and is not a folder" in err
    code, _, err = _run(["vary", pop909_file, "-o", afile / "sub"], capsys)
    assert code == 2 and "which is a file" in err
    code, _, err = _run(["perform", pop909_file, "-o", tmp_path / "nofolder" / "p.mid"], capsys)
    assert code == 2 and "output folder does not exist" in err
    code, _, err = _run(["generate", "-o", tmp_path / "g", "--time-signature", "3/5"], capsys)
    assert code == 2 and "--time-signature must look like 3/4" in err and not (tmp_path / "g").exists()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_folder(pop909_file, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, err = _run(["vary", pop909_file, "-o", locked / "out"], capsys)
        assert code == 2 and "not writable" in err
    finally:
        locked.chmod(0o700)


def test_a_failed_write_leaves_no_file(pop909_file, tmp_path, capsys, monkeypatch):
    """The second rename fails: the first file and the folder are removed again."""
    calls = []
    real_replace = os.replace

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise PermissionError(13, "Permission denied")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    code, _, err = _run(["vary", pop909_file, "-n", "3", "--seed", "1", "-o", tmp_path / "out"], capsys)
    assert code == 2 and "cannot write (Permission denied)" in err
    assert not (tmp_path / "out").exists() and len(calls) == 2


# ---- the rest of the command line --------------------------------------------------------
def test_help_is_instant_and_lists_every_command():
    times = []
    for _ in range(3):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "cadenza_hf.cli", "--help"], capture_output=True, text=True)
        times.append(time.perf_counter() - start)
    assert min(times) < 1.0
    for command in (
        "example",
        "roundtrip",
        "vary",
        "generate",
        "perform",
        "interpolate",
        "train",
        "evaluate",
        "build-dataset",
        "push",
    ):
        assert command in out.stdout


def _fake_entry_point(monkeypatch, module: str, result):
    """Put a stand-in ``main`` into the package module behind a forwarded command."""
    import importlib

    calls = []

    def main(argv):
        calls.append(list(argv))
        return result

    monkeypatch.setattr(importlib.import_module(module), "main", main)
    return calls


def test_train_commands_forward_every_argument(monkeypatch):
    calls = _fake_entry_point(monkeypatch, "cadenza_hf.training.composer", 3)
    assert cadenza_cli.main(["train", "composer", "--help", "--max_steps", "2"]) == 3
    assert cadenza_cli.main(["train-composer", "--max_steps", "4"]) == 3  # the older spelling
    assert calls == [["--help", "--max_steps", "2"], ["--max_steps", "4"]]


def test_train_performer_help_is_the_entry_points_own(capsys):
    with pytest.raises(SystemExit) as info:
        cadenza_cli.main(["train", "performer", "--help"])  # HfArgumentParser's own help
    assert info.value.code == 0 and "--init_from" in capsys.readouterr().out


def test_missing_config_is_one_clear_line(tmp_path, capsys):
    code = cadenza_cli.main(["train", "composer", "--config", str(tmp_path / "nope.json")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "not a shipped preset" in err and "composer_small" in err


def test_evaluate_names_its_model(monkeypatch, capsys):
    calls = _fake_entry_point(monkeypatch, "cadenza_hf.evaluation.evaluate_composer", {"rows": []})
    assert cadenza_cli.main(["evaluate", "composer", "--num-excerpts", "5"]) == 0  # a result dict means success
    assert calls == [["--num-excerpts", "5"]]
    assert cadenza_cli.main(["evaluate", "--num-excerpts", "5"]) == 2
    assert "say which model: composer or performer" in capsys.readouterr().err
    assert cadenza_cli.main(["evaluate", "--help"]) == 0 and "composer,performer" in capsys.readouterr().out


def test_missing_shipped_checkpoints_say_what_to_do(pop909_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CADENZA_CHECKPOINTS", str(tmp_path / "none"))
    code, _, err = _run(["vary", pop909_file, "-o", tmp_path / "out"], capsys)
    assert code == 2 and "no composer checkpoint shipped" in err and "pass --composer" in err
