"""Audio previews: cadenza_hf.preview.audio, ``cadenza render`` and ``cadenza vary --audio``."""

from __future__ import annotations

import importlib.util
import io
import wave

import numpy as np
import pytest
import symusic

pytest.importorskip("tinysoundfont", reason="the audio extra (tinysoundfont) is not installed")
pytest.importorskip("pretty_midi", reason="the audio extra (pretty_midi's SoundFont) is not installed")

from cadenza_hf.cli import main  # noqa: E402
from cadenza_hf.examples import example_beat, example_idea, write_example_idea  # noqa: E402
from cadenza_hf.preview import audio  # noqa: E402

RATE = audio.SAMPLE_RATE


def _read_wav(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as wav:
        assert wav.getsampwidth() == 2 and wav.getnchannels() == 2
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
        return frames.astype(np.float32) / 32767, wav.getframerate()


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


def test_length_is_whole_bars_at_the_tempo_plus_release():
    # the example idea: 4 bars of 4/4 at 96 qpm = 10 s
    assert audio.midi_length_seconds(example_idea()) == pytest.approx(10.0)
    # a note ending inside bar 2 of 3/4 at 120 qpm -> 2 bars of 1.5 s
    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(0, qpm=120))
    score.time_signatures.append(symusic.TimeSignature(0, 3, 4))
    track = symusic.Track(program=0)
    track.notes.append(symusic.Note(480 * 3, 480, 60, 80))
    score.tracks.append(track)
    assert audio.midi_length_seconds(score) == pytest.approx(3.0)
    # a tempo change at the second bar: 1.5 s at 120 then 3 s at 60
    score.tempos.append(symusic.Tempo(480 * 3, qpm=60))
    assert audio.midi_length_seconds(score) == pytest.approx(4.5)


def test_render_is_non_silent_and_the_right_length():
    data = audio.render_wav(example_idea())
    samples, rate = _read_wav(data)
    assert rate == RATE
    assert samples.shape[0] == round((10.0 + audio.RELEASE_SECONDS) * RATE)
    assert _rms(samples[: 10 * RATE]) > 0.005  # music while the notes play
    assert np.abs(samples).max() <= 1.0
    # the release tail decays: its last 0.1 s is far quieter than the music
    assert _rms(samples[-RATE // 10 :]) < 0.1 * _rms(samples[: 10 * RATE])


def test_drums_play_on_channel_10_and_pitched_tracks_their_program():
    beat, idea = example_beat(), example_idea()
    assert audio._channels(beat) == [audio.DRUM_CHANNEL]
    as_pitched = beat.copy()
    as_pitched.tracks[0].is_drum = False
    drums, pitched = audio.render_score(beat), audio.render_score(as_pitched)
    assert _rms(drums) > 0.005
    assert np.abs(drums - pitched).mean() > 0.1 * np.abs(drums).mean()  # a drum kit, not a piano
    bass = idea.copy()
    bass.tracks[0].program = 33  # fingered bass
    assert np.abs(audio.render_score(bass) - audio.render_score(idea)).mean() > 0.001
    two = idea.copy()
    two.tracks.append(bass.tracks[0].copy())
    two.tracks.append(beat.tracks[0].copy())
    assert audio._channels(two) == [0, 1, audio.DRUM_CHANNEL]


def test_cadenza_render_writes_wav_and_refuses_bad_input(tmp_path, capsys):
    idea = tmp_path / "idea.mid"
    write_example_idea(idea)
    out = tmp_path / "idea.wav"
    assert main(["render", str(idea), "-o", str(out), "--release", "0.5"]) == 0
    samples, _ = _read_wav(out.read_bytes())
    assert samples.shape[0] == round(10.5 * RATE)
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not midi")
    capsys.readouterr()
    assert main(["render", str(bad), "-o", str(tmp_path / "bad.wav")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.mid: not a MIDI file" in err
    assert not (tmp_path / "bad.wav").exists()
    assert main(["render", str(idea), "-o", str(tmp_path / "idea.mp3")]) == 2


def test_missing_extra_is_one_line(tmp_path, capsys, monkeypatch):
    idea = tmp_path / "idea.mid"
    write_example_idea(idea)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tinysoundfont" else real(name, *a)
    )
    assert main(["render", str(idea), "-o", str(tmp_path / "x.wav")]) == 2
    assert main(["vary", str(idea), "-o", str(tmp_path / "v"), "--audio"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all('pip install "cadenza_hf[audio]"' in line for line in err)
    assert not (tmp_path / "x.wav").exists() and not (tmp_path / "v").exists()


def test_vary_audio_writes_a_wav_beside_each_variation(tmp_path):
    idea = tmp_path / "idea.mid"
    write_example_idea(idea)  # 96 qpm, 4/4
    out = tmp_path / "vars"
    assert main(["vary", str(idea), "-n", "2", "-o", str(out), "--seed", "0", "--audio"]) == 0
    for i in (1, 2):
        assert (out / f"idea_var{i}.mid").is_file()
        samples, _ = _read_wav((out / f"idea_var{i}.wav").read_bytes())
        # 4 bars at the file's tempo (96 qpm: 10 s) plus the release
        assert samples.shape[0] == round((4 * 4 * 60 / 96 + audio.RELEASE_SECONDS) * RATE)
        assert _rms(samples[: 10 * RATE]) > 0.005
