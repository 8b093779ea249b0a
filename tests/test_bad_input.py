"""Every bad-input class gets one MidiInputError naming the input and the reason."""

from __future__ import annotations

import struct

import pytest
import symusic

from cadenza_hf import MidiInputError, read_midi
from cadenza_hf.tokenization import midi_io

from .midi_factory import header, meta, notes_events, simple_midi, tempo, time_signature, track_chunk, vlq

GOOD = simple_midi()


def _raises(midi, match, **kwargs):
    with pytest.raises(MidiInputError, match=match) as info:
        read_midi(midi, **kwargs)
    assert isinstance(info.value, ValueError)
    return info.value


def test_good_file_reads():
    assert read_midi(GOOD).note_num() == 32


def test_not_a_midi():
    _raises(b"RIFF\x00\x00\x00\x00WAVEfmt plus some more bytes", "not a MIDI file")


def test_zero_bytes(tmp_path):
    path = tmp_path / "empty.mid"
    path.write_bytes(b"")
    err = _raises(str(path), "empty input")
    assert str(path) in str(err)


def test_truncated():
    _raises(GOOD[: len(GOOD) - 20], "truncated")


def test_truncated_inside_event():
    body = time_signature(4, 2) + b"\x00\x90\x3c"  # note-on missing its velocity byte
    data = header() + b"MTrk" + struct.pack(">I", len(body)) + body
    _raises(data, "truncated")


def test_header_lies_about_track_count():
    data = header(1, 3) + GOOD[14:]
    _raises(data, "header says 3 tracks but the file holds 1")


def test_header_length_lies():
    data = b"MThd" + struct.pack(">I", 4000) + GOOD[8:]
    _raises(data, "corrupt header")


def test_smpte_division():
    data = header(1, 1, 0xE728) + GOOD[14:]  # -25 fps, 40 ticks per frame
    _raises(data, "SMPTE")


def test_tpq_zero():
    _raises(header(1, 1, 0) + GOOD[14:], "ticks per quarter is 0")


def test_time_signature_denominator_out_of_range():
    events = meta(0x58, bytes([4, 200, 24, 8])) + notes_events([(0, 100, 60, 80)])
    _raises(header() + track_chunk(events), "denominator")


def test_time_signature_zero_numerator():
    events = meta(0x58, bytes([0, 2, 24, 8])) + notes_events([(0, 100, 60, 80)])
    _raises(header() + track_chunk(events), "numerator is 0")


def test_score_time_signature_zero_denominator():
    score = symusic.Score.from_midi(GOOD)
    score.time_signatures.append(symusic.TimeSignature(0, 4, 0))
    _raises(score, "invalid time signature 4/0")


def test_score_time_signature_zero_numerator():
    score = symusic.Score.from_midi(GOOD)
    score.time_signatures.append(symusic.TimeSignature(0, 0, 4))
    _raises(score, "invalid time signature 0/4")


def test_tempo_zero():
    events = tempo(0) + notes_events([(0, 100, 60, 80)])
    _raises(header() + track_chunk(events), "tempo of 0")


def test_absurd_tick_values():
    huge = vlq(0x0FFFFFFF)  # the largest 4-byte delta, repeated past 2**31
    events = b"".join(huge + b"\xff\x01\x00" for _ in range(9)) + notes_events([(0, 100, 60, 80)])
    _raises(header() + track_chunk(events), "2\\*\\*31")


def test_too_long_in_quarters():
    events = vlq(0x0FFFFFFF) + b"\x90\x3c\x40" + vlq(10) + b"\x80\x3c\x00"
    _raises(header(1, 1, 96) + track_chunk(events), "quarter notes is over")


def test_overlong_variable_length_quantity():
    events = b"\x81\x81\x81\x81\x01\x90\x3c\x40"
    _raises(header() + track_chunk(events), "more than 4 bytes")


def test_no_notes():
    _raises(header() + track_chunk(time_signature(4, 2) + tempo(500000)), "no notes")


def test_too_many_notes(monkeypatch):
    monkeypatch.setattr(midi_io, "MAX_NOTES", 50)
    _raises(simple_midi([(i * 10, 5, 60, 80) for i in range(60)]), "more than 50 notes")


def test_too_many_tracks():
    data = header(1, midi_io.MAX_TRACKS + 1) + track_chunk(b"") * (midi_io.MAX_TRACKS + 1)
    _raises(data, "track limit")


def test_huge_file(tmp_path):
    path = tmp_path / "huge.mid"
    with open(path, "wb") as f:
        f.write(GOOD)
        f.truncate(midi_io.MAX_FILE_BYTES + 1)  # sparse: cheap to make
    _raises(str(path), "byte limit")


def test_missing_path_and_directory(tmp_path):
    _raises(str(tmp_path / "nope.mid"), "cannot read file")
    _raises(str(tmp_path), "directory")


def test_running_status_without_status():
    events = b"\x00\x3c\x40"
    _raises(header() + track_chunk(events), "no running status")


def test_error_names_the_source():
    err = _raises(b"garbage-bytes-here", "not a MIDI file", name="song.mid")
    assert str(err).startswith("song.mid: ")


def test_tokenizer_errors_are_midi_input_errors(tokenizer):
    with pytest.raises(MidiInputError, match="track 7 does not exist"):
        tokenizer.encode_midi(GOOD, track=7)
    with pytest.raises(MidiInputError, match="no track named 'Bass'"):
        tokenizer.encode_midi(GOOD, track="Bass")
    with pytest.raises(MidiInputError, match="past the end"):
        tokenizer.encode_midi(GOOD, start_bar=50)
    quiet = simple_midi([(0, 100, 60, 80), (480 * 4 * 8, 100, 60, 80)])
    with pytest.raises(MidiInputError, match="no notes in bars 2-5"):
        tokenizer.encode_midi(quiet, start_bar=2)
    with pytest.raises(MidiInputError, match="not a MIDI file"):
        tokenizer(b"not midi at all, clearly")


def test_meter_change_inside_window(tokenizer):
    """A window across a meter change keeps each bar's meter (tests/test_meter_changes.py); the
    dataset builder's windows (``meter_changes=False``) still refuse it."""
    events = time_signature(4, 2) + meta(0x58, bytes([3, 2, 24, 8]), delta=1920 * 2)
    data = header(1, 2) + track_chunk(events) + track_chunk(notes_events([(i * 480, 400, 60, 80) for i in range(20)]))
    excerpt = tokenizer.extract_excerpt(data)
    assert excerpt.meta.bar_meters == [(4, 4), (4, 4), (3, 4), (3, 4)] and excerpt.score.note_num() == 14
    ids = tokenizer.encode_excerpt(excerpt)
    assert tokenizer.grammar_errors(ids, bars=4, time_signature=excerpt.meta.meter, require_eos=True) == 0
    with pytest.raises(MidiInputError, match="meter changes inside bars 0-3"):
        tokenizer.cut_excerpt(tokenizer.track_score(excerpt.score, 0), 0, 4, meter_changes=False)
    assert tokenizer.encode_midi(data, start_bar=2, bars=2)  # the 3/4 part alone is one meter


def test_too_many_notes_in_window(tokenizer, monkeypatch):
    from cadenza_hf.tokenization import excerpt

    monkeypatch.setattr(excerpt, "MAX_EXCERPT_NOTES", 16)
    with pytest.raises(MidiInputError, match="over the 16 limit"):
        tokenizer.encode_midi(GOOD)
