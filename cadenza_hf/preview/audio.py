"""Audio previews: any MIDI the project writes, rendered to WAV with a General MIDI SoundFont.

The synthesizer is ``tinysoundfont`` (a self-contained binding of TinySoundFont: no system
library is needed to render; its PyAudio dependency is only used for live playback, which
this module never does). The SoundFont is the one named by ``soundfont=``, else the file in
``$CADENZA_SOUNDFONT``, else the small General MIDI SoundFont that ``pretty_midi`` ships
(``TimGM6mb.sf2``). Install both with ``pip install "cadenza_hf[audio]"``; the imports happen
on call, so the rest of the package works without them.

Drum tracks play on MIDI channel 10 (index 9, the General MIDI percussion channel); each
pitched track plays its own program on a channel of its own. The render lasts the MIDI's
length at its tempo (its last event rounded up to the next bar line, so a 4-bar excerpt
renders as 4 full bars) plus :data:`RELEASE_SECONDS` for the last notes to ring out.
"""

from __future__ import annotations

import importlib.util
import io
import math
import os
import wave
from pathlib import Path

SAMPLE_RATE = 44100
RELEASE_SECONDS = 1.0
DRUM_CHANNEL = 9  # MIDI channel 10
ENV_SOUNDFONT = "CADENZA_SOUNDFONT"
_INSTALL_HINT = 'pip install "cadenza_hf[audio]"'
_PITCHED_CHANNELS = [c for c in range(16) if c != DRUM_CHANNEL]


def require_synth() -> None:
    """Raise ImportError with the install hint if the synthesizer binding is missing."""
    if importlib.util.find_spec("tinysoundfont") is None:
        raise ImportError(f"audio needs the tinysoundfont synthesizer: {_INSTALL_HINT}")


def default_soundfont() -> Path:
    """The SoundFont used when none is given: ``$CADENZA_SOUNDFONT``, else pretty_midi's GM SoundFont.

    Raises:
        ImportError: no SoundFont is configured and pretty_midi is not installed.
        FileNotFoundError: the configured SoundFont does not exist.
    """
    configured = os.environ.get(ENV_SOUNDFONT)
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: SoundFont not found (from ${ENV_SOUNDFONT})")
        return path
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"audio needs a SoundFont: {_INSTALL_HINT} (ships one), or set ${ENV_SOUNDFONT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "TimGM6mb.sf2"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pretty_midi's SoundFont is missing; set ${ENV_SOUNDFONT} to a .sf2 file")
    return path


def _seconds_at(score, tick: int) -> float:
    """Seconds from the start to ``tick`` along the score's tempo map (120 qpm before any tempo)."""
    tpq = score.ticks_per_quarter
    tempos = sorted((t.time, t.mspq) for t in score.tempos)
    seconds, last_tick, mspq = 0.0, 0, 500_000
    for time, value in tempos:
        if time >= tick:
            break
        seconds += (time - last_tick) * mspq / 1e6 / tpq
        last_tick, mspq = time, value
    return seconds + (tick - last_tick) * mspq / 1e6 / tpq


def _bar_line_after(score, tick: int) -> int:
    """The first bar line at or after ``tick`` (bars follow the time signatures; 4/4 before any)."""
    tpq = score.ticks_per_quarter
    signatures = sorted((ts.time, ts.numerator, ts.denominator) for ts in score.time_signatures)
    if not signatures or signatures[0][0] > 0:
        signatures.insert(0, (0, 4, 4))
    for k, (start, num, den) in enumerate(signatures):
        end = signatures[k + 1][0] if k + 1 < len(signatures) else None
        bar = max(1, round(tpq * 4 * num / den))
        if end is None or tick <= end:
            return start + math.ceil(max(0, tick - start) / bar) * bar
    return tick  # not reached: the last signature has no end


def midi_length_seconds(score) -> float:
    """The length of a tick-time ``symusic.Score`` in seconds: its end rounded up to a bar line."""
    return _seconds_at(score, _bar_line_after(score, max(0, score.end())))


def _channels(score) -> list[int]:
    """A MIDI channel per track: drums on channel 10, pitched tracks one channel per program."""
    by_program: dict[int, int] = {}
    channels = []
    for track in score.tracks:
        if track.is_drum:
            channels.append(DRUM_CHANNEL)
            continue
        if track.program not in by_program:
            by_program[track.program] = _PITCHED_CHANNELS[len(by_program) % len(_PITCHED_CHANNELS)]
        channels.append(by_program[track.program])
    return channels


def _events(score, sample_rate: int) -> list[tuple[int, int, tuple]]:
    """``(sample, order, action)`` for every note on/off, controller and pitch bend, in time order."""
    seconds = score.to("second")
    events = []
    for track, channel in zip(seconds.tracks, _channels(score)):
        for note in track.notes:
            if note.velocity <= 0:
                continue
            on = round(note.time * sample_rate)
            off = max(on + 1, round((note.time + note.duration) * sample_rate))
            events.append((on, 2, ("noteon", channel, int(note.pitch), int(min(127, note.velocity)))))
            events.append((off, 0, ("noteoff", channel, int(note.pitch))))
        for control in track.controls:
            events.append(
                (round(control.time * sample_rate), 1, ("cc", channel, int(control.number), int(control.value)))
            )
        for bend in track.pitch_bends:
            events.append((round(bend.time * sample_rate), 1, ("bend", channel, int(bend.value) + 8192)))
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def render_score(score, soundfont: str | os.PathLike | None = None, sample_rate: int = SAMPLE_RATE, release=None):
    """Render a ``symusic.Score`` to stereo float32 samples, shape ``(frames, 2)``, peak at most 1.

    ``release`` (seconds, default :data:`RELEASE_SECONDS`) is added after the MIDI's length
    (:func:`midi_length_seconds`) for the last notes to ring out.
    """
    require_synth()
    import numpy as np
    import tinysoundfont

    from ..tokenization.midi_io import read_midi

    score = read_midi(score)
    release = RELEASE_SECONDS if release is None else release
    synth = tinysoundfont.Synth(samplerate=sample_rate)
    sfid = synth.sfload(str(soundfont or default_soundfont()))
    for track, channel in zip(score.tracks, _channels(score)):
        if channel == DRUM_CHANNEL:
            synth.program_select(channel, sfid, 0, 0, is_drums=True)
        else:
            _select_program(synth, sfid, channel, int(track.program))
    events = _events(score, sample_rate)
    last_event = events[-1][0] if events else 0
    frames = max(last_event, math.ceil(midi_length_seconds(score) * sample_rate)) + round(release * sample_rate)
    buffer = memoryview(bytearray(frames * 2 * 4))
    position = 0
    for sample, _, action in [*events, (frames, 0, None)]:
        if sample > position:
            synth.generate_simple(sample - position, buffer=buffer[position * 8 : sample * 8])
            position = sample
        if action is not None:
            _apply(synth, action)
    audio = np.frombuffer(buffer, dtype=np.float32).reshape(frames, 2).copy()
    peak = float(np.abs(audio).max()) if frames else 0.0
    if peak > 1.0:  # many voices at once: scale down rather than clip
        audio /= peak
    return audio


def _select_program(synth, sfid: int, channel: int, program: int) -> None:
    try:
        synth.program_select(channel, sfid, 0, program)
    except RuntimeError:  # a SoundFont without this program: fall back to the piano
        synth.program_select(channel, sfid, 0, 0)


def _apply(synth, action: tuple) -> None:
    kind, channel, *args = action
    if kind == "noteon":
        synth.noteon(channel, *args)
    elif kind == "noteoff":
        synth.noteoff(channel, *args)
    elif kind == "cc":
        synth.control_change(channel, *args)
    else:
        synth.pitchbend(channel, *args)


def wav_bytes(audio, sample_rate: int = SAMPLE_RATE) -> bytes:
    """16-bit PCM WAV bytes of float samples in [-1, 1], shape ``(frames, channels)``."""
    import numpy as np

    pcm = (np.clip(audio, -1.0, 1.0) * 32767).round().astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(pcm.shape[1] if pcm.ndim == 2 else 1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def render_wav(midi, soundfont: str | os.PathLike | None = None, sample_rate: int = SAMPLE_RATE, release=None) -> bytes:
    """A WAV file's bytes for ``midi`` (a path, MIDI bytes or a ``symusic.Score``).

    Raises:
        MidiInputError: the MIDI is unreadable or over a limit (as everywhere in the package).
        ImportError: the ``audio`` extra is not installed (the message says what to install).
    """
    return wav_bytes(render_score(midi, soundfont, sample_rate, release), sample_rate)


__all__ = [
    "DRUM_CHANNEL",
    "ENV_SOUNDFONT",
    "RELEASE_SECONDS",
    "SAMPLE_RATE",
    "default_soundfont",
    "midi_length_seconds",
    "render_score",
    "render_wav",
    "require_synth",
    "wav_bytes",
]
