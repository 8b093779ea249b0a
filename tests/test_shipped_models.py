"""The checkpoints shipped in cadenza_hf/checkpoints: the README's main command end to end.

These run the real trained models (not the tiny random ones of the other tests), so
they check what a user gets: `cadenza example idea.mid && cadenza vary idea.mid -n 4`
writes four valid MIDI files whose velocities and timing are performed, not copied
from a quantized score.
"""

from __future__ import annotations

import os

import pytest

from cadenza_hf import cli as cadenza_cli
from cadenza_hf import read_midi
from cadenza_hf.hub import defaults

GRID = (120, 160)  # 16ths and 8th-triplets at 480 tpq; quarter-triplets (320) lie on the 160 grid


@pytest.fixture(autouse=True)
def packaged_checkpoints(monkeypatch):
    monkeypatch.delenv(defaults.ENV_VAR, raising=False)
    missing = [name for name in defaults.CHECKPOINT_NAMES if not defaults.has_checkpoint(name)]
    assert not missing, f"the package must ship these checkpoints: {missing}"


def _on_grid(tick: int) -> bool:
    return any(tick % step == 0 for step in GRID)


def test_readme_main_command_writes_four_expressive_variations(tmp_path, capsys):
    idea = tmp_path / "idea.mid"
    out = tmp_path / "variations"
    assert cadenza_cli.main(["example", str(idea)]) == 0
    assert cadenza_cli.main(["vary", str(idea), "-n", "4", "-o", str(out), "--seed", "0"]) == 0
    printed = capsys.readouterr().out
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [f"idea_var{i}.mid" for i in range(1, 5)]
    assert all(str(f) in printed for f in files)  # it says where the outputs went

    source = read_midi(idea)
    off_grid = 0
    for path in files:
        score = read_midi(path)  # the guarded reader refuses empty or malformed files
        assert len(score.tracks) == 1 and not score.tracks[0].is_drum
        assert score.tempos[0].qpm == pytest.approx(source.tempos[0].qpm, rel=1e-3)
        assert (score.time_signatures[0].numerator, score.time_signatures[0].denominator) == (4, 4)
        notes = score.tracks[0].notes
        assert len(notes) >= 4
        assert len({n.velocity for n in notes}) >= 3  # performed dynamics, not one constant
        off_grid += sum(not _on_grid(n.time) for n in notes)
    assert off_grid > 0  # the performer moved some onsets off the quantized grid

    again = tmp_path / "again"
    assert cadenza_cli.main(["vary", str(idea), "-n", "4", "-o", str(again), "--seed", "0"]) == 0
    assert [p.read_bytes() for p in sorted(again.iterdir())] == [p.read_bytes() for p in files]


def test_shipped_drum_performer_humanises_the_example_beat(tmp_path):
    from cadenza_hf.examples import example_beat

    beat = tmp_path / "beat.mid"
    beat.write_bytes(example_beat().dumps_midi())
    out = tmp_path / "beat_performed.mid"
    assert cadenza_cli.main(["perform", str(beat), "-o", str(out), "--seed", "1"]) == 0
    score = read_midi(out)
    assert score.tracks[0].is_drum
    notes = score.tracks[0].notes
    assert len(notes) == len(read_midi(beat).tracks[0].notes)
    assert len({n.velocity for n in notes}) >= 4
    assert sum(not _on_grid(n.time) for n in notes) > 0  # Groove-style microtiming


def test_shipped_checkpoints_are_small_enough():
    total = 0
    for name in defaults.CHECKPOINT_NAMES:
        for path in defaults.checkpoint_path(name).iterdir():
            size = os.path.getsize(path)
            assert size < 30 * 1024 * 1024, path
            total += size
    assert total < 80 * 1024 * 1024  # four checkpoints: the composer and three performer styles
