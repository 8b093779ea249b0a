"""Small 4-bar ideas the project writes itself, for examples, the README and tests.

Nothing here comes from a dataset: the notes are written out below. The idea is a
piano phrase in C major at 96 bpm with straight 8ths, 16ths and one bar of 8th-note
triplets, so it exercises both of PerTok's default grids. The beat is a 4-bar rock
groove at 100 bpm on the General MIDI drum map (kick 36, snare 38, closed hi-hat 42,
open hi-hat 46, crash 49), with a 16th-note fill in the last bar.
"""

from __future__ import annotations

import symusic

TPQ = 480

# (beat, length in beats, pitch, velocity), beats counted from the start of bar 1
_MELODY = [
    (0, 1, 72, 84),
    (1, 0.5, 74, 70),
    (1.5, 0.5, 76, 76),
    (2, 1.5, 79, 90),
    (3.5, 0.5, 76, 64),
    (4, 0.25, 77, 72),
    (4.25, 0.25, 76, 60),
    (4.5, 0.5, 74, 68),
    (5, 1, 72, 80),
    (6, 2, 67, 74),
    (8, 1 / 3, 69, 78),
    (8 + 1 / 3, 1 / 3, 71, 62),
    (8 + 2 / 3, 1 / 3, 72, 70),
    (9, 1, 76, 88),
    (10, 1 / 3, 74, 72),
    (10 + 1 / 3, 1 / 3, 72, 60),
    (10 + 2 / 3, 1 / 3, 71, 66),
    (11, 1, 69, 76),
    (12, 0.5, 67, 70),
    (12.5, 0.5, 69, 66),
    (13, 0.5, 71, 74),
    (13.5, 0.5, 74, 70),
    (14, 2, 72, 86),
]
_CHORDS = [(0, (48, 55, 64)), (4, (45, 52, 60)), (8, (41, 48, 57)), (12, (43, 50, 59))]


def example_idea(qpm: float = 96.0) -> symusic.Score:
    """The example idea as a one-track ``symusic.Score`` (4/4, piano)."""
    score = symusic.Score(TPQ)
    score.tempos.append(symusic.Tempo(0, qpm=qpm))
    score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    track = symusic.Track(name="Idea", program=0)
    for beat, length, pitch, velocity in _MELODY:
        track.notes.append(symusic.Note(round(beat * TPQ), round(length * TPQ), pitch, velocity))
    for beat, chord in _CHORDS:
        for k, pitch in enumerate(chord):
            track.notes.append(symusic.Note(beat * TPQ, 4 * TPQ - 40, pitch, 58 - 4 * k))
    track.notes.sort()
    score.tracks.append(track)
    return score


def example_beat(qpm: float = 100.0) -> symusic.Score:
    """The example beat as a one-track drum ``symusic.Score`` (4/4, ``is_drum=True``)."""
    score = symusic.Score(TPQ)
    score.tempos.append(symusic.Tempo(0, qpm=qpm))
    score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
    track = symusic.Track(name="Beat", program=0, is_drum=True)
    hit = TPQ // 4  # drums have no written duration; a 16th is the usual stand-in
    for bar in range(4):
        start = bar * 4 * TPQ
        for eighth in range(8):
            if bar == 3 and eighth >= 4:
                break
            pitch = 46 if eighth == 7 else 42
            track.notes.append(symusic.Note(start + eighth * TPQ // 2, hit, pitch, 84 if eighth % 2 == 0 else 62))
        for beat in (0, 2.5) if bar % 2 else (0, 2):
            track.notes.append(symusic.Note(start + round(beat * TPQ), hit, 36, 100))
        for beat in (1, 3) if bar < 3 else (1,):
            track.notes.append(symusic.Note(start + beat * TPQ, hit, 38, 96))
    fill = 3 * 4 * TPQ + 2 * TPQ
    for k in range(8):
        track.notes.append(symusic.Note(fill + k * TPQ // 4, hit, 38, 60 + 5 * k))
    track.notes.append(symusic.Note(0, hit, 49, 104))
    track.notes.sort()
    score.tracks.append(track)
    return score


def write_example_idea(path) -> None:
    """Write the example idea as a MIDI file (atomically)."""
    from .utils.files import atomic_write_bytes

    atomic_write_bytes(path, example_idea().dumps_midi())


__all__ = ["example_beat", "example_idea", "write_example_idea"]
