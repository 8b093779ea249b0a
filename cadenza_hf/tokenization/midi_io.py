"""Guarded MIDI reading: every input is checked before symusic parses it.

symusic parses MIDI in native code. Fed a hostile file (lying header, truncated chunk,
tick values past 2**31 that wrap to negative times, SMPTE division, ``tpq == 0``) it
can raise an opaque error, allocate per tick, or crash later in native code. This module
walks the Standard MIDI File structure in Python first (chunks, variable-length
quantities, event lengths, running status) and only hands bytes to symusic once the
file is known to be well-formed and within the limits below. That scan is what symusic
lacks, so it is written here by hand.

Every rejection raises :class:`MidiInputError` (a ``ValueError``) whose message names
the file and the reason.

Limits (module constants, documented in the README):

- ``MAX_FILE_BYTES`` (16 MiB): larger inputs are refused before being read.
- ``MAX_TRACKS`` (512) MTrk chunks.
- ``MAX_NOTES`` (1,000,000) note-on events in a file.
- ``MAX_TICK`` (2**31 - 1) absolute ticks, and ``MAX_QUARTERS`` (200,000) quarter notes
  (about 28 hours at 120 bpm) of length.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Union

import symusic
from symusic.core import ScoreTick

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_TRACKS = 512
MAX_NOTES = 1_000_000
MAX_TICK = 2**31 - 1
MAX_QUARTERS = 200_000
VALID_DENOMINATORS = (1, 2, 4, 8, 16, 32, 64)

MidiLike = Union[str, os.PathLike, bytes, bytearray, memoryview, symusic.Score, ScoreTick]  # noqa: UP007 (Score is a factory, not a type)


class MidiInputError(ValueError):
    """A MIDI input was refused; the message names the input and the reason."""

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


def describe(midi: object) -> str:
    """A short human name for an input, used in error messages."""
    if isinstance(midi, (str, os.PathLike)):
        return str(midi)
    if isinstance(midi, (bytes, bytearray, memoryview)):
        return f"<MIDI bytes, {len(midi)} bytes>"
    if isinstance(midi, symusic.Score):
        return "<symusic.Score>"
    return f"<{type(midi).__name__}>"


def read_midi(midi: MidiLike, name: str | None = None) -> symusic.Score:
    """Read a path, MIDI bytes or a ``symusic.Score`` into a validated tick-time Score.

    Args:
        midi: path to a ``.mid`` file, the bytes of one, or a ``symusic.Score``.
        name: name used in error messages (defaults to the path or a description).

    Raises:
        MidiInputError: the input is unreadable, malformed, empty or over a limit.
    """
    source = name or describe(midi)
    if isinstance(midi, symusic.Score):
        if midi.ticks_per_quarter <= 0:
            raise MidiInputError(source, f"ticks per quarter must be positive, got {midi.ticks_per_quarter}")
        score = midi if isinstance(midi, ScoreTick) else midi.to("tick")
        validate_score(score, source)
        return score
    if isinstance(midi, (str, os.PathLike)):
        data = _read_file(Path(midi), source)
    elif isinstance(midi, (bytes, bytearray, memoryview)):
        data = bytes(midi)
        if len(data) > MAX_FILE_BYTES:
            raise MidiInputError(source, f"{len(data)} bytes is over the {MAX_FILE_BYTES}-byte limit")
    else:
        raise MidiInputError(source, "expected a path, MIDI bytes or a symusic.Score")
    data = scan_smf(data, source)
    try:
        score = symusic.Score.from_midi(data)
    except Exception as err:  # symusic raises RuntimeError/ValueError variants
        raise MidiInputError(source, f"not a readable MIDI file ({err})") from None
    validate_score(score, source)
    return score


def _read_file(path: Path, source: str) -> bytes:
    try:
        size = path.stat().st_size
    except OSError as err:
        raise MidiInputError(source, f"cannot read file ({err.strerror or err})") from None
    if path.is_dir():
        raise MidiInputError(source, "is a directory, not a MIDI file")
    if size > MAX_FILE_BYTES:
        raise MidiInputError(source, f"{size} bytes is over the {MAX_FILE_BYTES}-byte limit")
    try:
        return path.read_bytes()
    except OSError as err:
        raise MidiInputError(source, f"cannot read file ({err.strerror or err})") from None


def _read_vlq(data: bytes, pos: int, end: int, source: str) -> tuple[int, int]:
    """Decode a MIDI variable-length quantity (at most 4 bytes)."""
    value = 0
    for _ in range(4):
        if pos >= end:
            raise MidiInputError(source, "truncated track (variable-length value runs past the chunk)")
        byte = data[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos
    raise MidiInputError(source, "malformed variable-length value (more than 4 bytes)")


def scan_smf(data: bytes, source: str) -> bytes:
    """Walk the Standard MIDI File structure and enforce the module limits.

    Checks the header, every chunk length, every event's length, running status,
    time-signature and tempo meta events, note count and the largest absolute tick.
    Chunks of unknown type are skipped (as the MIDI file format asks of readers), and
    bytes after the last track that do not form a whole chunk are ignored, as common
    readers do. Returns a clean copy of the file: the header and the track chunks only.
    """
    if len(data) == 0:
        raise MidiInputError(source, "empty input (0 bytes)")
    if len(data) < 14 or data[:4] != b"MThd":
        raise MidiInputError(source, "not a MIDI file (no MThd header)")
    header_len = struct.unpack(">I", data[4:8])[0]
    if header_len < 6 or 8 + header_len > len(data):
        raise MidiInputError(source, f"corrupt header (header length {header_len})")
    fmt, ntracks, division = struct.unpack(">HHH", data[8:14])
    if fmt not in (0, 1, 2):
        raise MidiInputError(source, f"unknown MIDI format {fmt}")
    if division & 0x8000:
        raise MidiInputError(source, "SMPTE time division is not supported (needs ticks per quarter)")
    if division == 0:
        raise MidiInputError(source, "ticks per quarter is 0")
    if ntracks > MAX_TRACKS:
        raise MidiInputError(source, f"{ntracks} tracks is over the {MAX_TRACKS}-track limit")
    pos = 8 + header_len
    found, notes, max_tick = 0, 0, 0
    clean = [b"MThd" + struct.pack(">I", 6) + data[8:14]]
    while pos < len(data):
        complete = pos + 8 <= len(data) and pos + 8 + struct.unpack(">I", data[pos + 4 : pos + 8])[0] <= len(data)
        if not complete and found >= ntracks:
            break  # trailing bytes after the last track
        if pos + 8 > len(data):
            raise MidiInputError(source, "truncated file (incomplete chunk header)")
        kind, length = data[pos : pos + 4], struct.unpack(">I", data[pos + 4 : pos + 8])[0]
        start, end = pos + 8, pos + 8 + length
        if end > len(data):
            raise MidiInputError(
                source, f"truncated file (chunk {found + 1} claims {length} bytes, {len(data) - start} left)"
            )
        if kind == b"MTrk":
            clean.append(data[pos:end])
            found += 1
            if found > MAX_TRACKS:
                raise MidiInputError(source, f"more than {MAX_TRACKS} tracks")
            track_notes, track_end = _scan_track(data, start, end, source)
            notes += track_notes
            max_tick = max(max_tick, track_end)
            if notes > MAX_NOTES:
                raise MidiInputError(source, f"more than {MAX_NOTES} notes")
        pos = end
    if found != ntracks:
        raise MidiInputError(source, f"header says {ntracks} tracks but the file holds {found}")
    if fmt == 0 and found != 1:
        raise MidiInputError(source, f"format 0 file with {found} tracks")
    _check_length(max_tick, division, source)
    return b"".join(clean)


def _check_length(max_tick: int, tpq: int, source: str) -> None:
    if max_tick > MAX_TICK:
        raise MidiInputError(source, f"tick {max_tick} is past the 2**31-1 limit")
    if max_tick / tpq > MAX_QUARTERS:
        raise MidiInputError(source, f"length {max_tick / tpq:.0f} quarter notes is over the {MAX_QUARTERS} limit")


_DATA_BYTES = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}


def _scan_track(data: bytes, pos: int, end: int, source: str) -> tuple[int, int]:
    """Scan one MTrk chunk; return (note-on count, last absolute tick)."""
    tick, notes, status = 0, 0, 0
    while pos < end:
        delta, pos = _read_vlq(data, pos, end, source)
        tick += delta
        if tick > MAX_TICK:
            raise MidiInputError(source, f"tick {tick} is past the 2**31-1 limit")
        if pos >= end:
            raise MidiInputError(source, "truncated track (event missing after delta time)")
        byte = data[pos]
        if byte == 0xFF:  # meta event
            if pos + 2 > end:
                raise MidiInputError(source, "truncated meta event")
            meta_type = data[pos + 1]
            length, pos = _read_vlq(data, pos + 2, end, source)
            if pos + length > end:
                raise MidiInputError(source, "truncated meta event")
            _check_meta(meta_type, data[pos : pos + length], source)
            pos += length
            if meta_type == 0x2F:
                break
        elif byte in (0xF0, 0xF7):  # sysex
            length, pos = _read_vlq(data, pos + 1, end, source)
            if pos + length > end:
                raise MidiInputError(source, "truncated sysex event")
            pos += length
        else:
            if byte & 0x80:
                if byte >= 0xF0:
                    raise MidiInputError(source, f"invalid status byte 0x{byte:02X}")
                status = byte
                pos += 1
            elif status == 0:
                raise MidiInputError(source, "data byte with no running status")
            size = _DATA_BYTES[status & 0xF0]
            if pos + size > end:
                raise MidiInputError(source, "truncated channel event")
            if status & 0xF0 == 0x90 and data[pos + 1] > 0:
                notes += 1
            pos += size
    return notes, tick


def _check_meta(meta_type: int, payload: bytes, source: str) -> None:
    if meta_type == 0x58:  # time signature: nn dd cc bb
        if len(payload) < 2:
            raise MidiInputError(source, "malformed time signature event")
        if payload[0] == 0:
            raise MidiInputError(source, "time signature numerator is 0")
        if payload[1] > 6:
            raise MidiInputError(source, f"time signature denominator 2**{payload[1]} is out of range")
    elif meta_type == 0x51:  # tempo: microseconds per quarter, 3 bytes
        if len(payload) != 3:
            raise MidiInputError(source, "malformed tempo event")
        if int.from_bytes(payload, "big") == 0:
            raise MidiInputError(source, "tempo of 0 microseconds per quarter")


def validate_score(score: symusic.Score, source: str) -> None:
    """Check a tick-time Score against the limits (used for Scores given directly)."""
    tpq = score.ticks_per_quarter
    if tpq <= 0:
        raise MidiInputError(source, f"ticks per quarter must be positive, got {tpq}")
    if len(score.tracks) > MAX_TRACKS:
        raise MidiInputError(source, f"{len(score.tracks)} tracks is over the {MAX_TRACKS}-track limit")
    total = sum(len(t.notes) for t in score.tracks)
    if total == 0:
        raise MidiInputError(source, "contains no notes")
    if total > MAX_NOTES:
        raise MidiInputError(source, f"{total} notes is over the {MAX_NOTES}-note limit")
    for ts in score.time_signatures:
        if ts.numerator <= 0 or ts.denominator not in VALID_DENOMINATORS:
            raise MidiInputError(source, f"invalid time signature {ts.numerator}/{ts.denominator}")
    for tempo in score.tempos:
        if tempo.mspq <= 0:
            raise MidiInputError(source, "tempo of 0 microseconds per quarter")
    lo, hi = 0, 0
    for track in score.tracks:
        if len(track.notes):
            arr = track.notes.numpy()
            lo = min(lo, int(arr["time"].min()), int(arr["duration"].min()))
            hi = max(hi, int((arr["time"].astype("int64") + arr["duration"]).max()))
    if lo < 0:
        raise MidiInputError(source, "negative note time or duration (tick overflow?)")
    _check_length(hi, tpq, source)


__all__ = [
    "MAX_FILE_BYTES",
    "MAX_NOTES",
    "MAX_QUARTERS",
    "MAX_TICK",
    "MAX_TRACKS",
    "MidiInputError",
    "MidiLike",
    "describe",
    "read_midi",
    "scan_smf",
    "validate_score",
]
