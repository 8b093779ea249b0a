"""MIDI material for tests: hand-made Standard MIDI File bytes (valid ones and deliberately
broken ones), and small copies of the real collections laid out like the originals."""

from __future__ import annotations

import csv
import shutil
import struct
from pathlib import Path


def vlq(value: int) -> bytes:
    """MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def track_chunk(events: bytes, end: bool = True) -> bytes:
    body = events + (b"\x00\xff\x2f\x00" if end else b"")
    return b"MTrk" + struct.pack(">I", len(body)) + body


def header(fmt: int = 1, ntracks: int = 1, division: int = 480) -> bytes:
    return b"MThd" + struct.pack(">IHHH", 6, fmt, ntracks, division)


def notes_events(notes, channel: int = 0) -> bytes:
    """Events for ``(start, duration, pitch, velocity)`` notes (start-sorted, no overlap per pitch)."""
    timeline = []
    for start, dur, pitch, vel in notes:
        timeline.append((start, 1, bytes([0x90 | channel, pitch, vel])))
        timeline.append((start + dur, 0, bytes([0x80 | channel, pitch, 0])))
    timeline.sort()
    out, now = b"", 0
    for tick, _, msg in timeline:
        out += vlq(tick - now) + msg
        now = tick
    return out


def meta(kind: int, payload: bytes, delta: int = 0) -> bytes:
    return vlq(delta) + bytes([0xFF, kind]) + vlq(len(payload)) + payload


def time_signature(num: int, den_power: int) -> bytes:
    return meta(0x58, bytes([num, den_power, 24, 8]))


def tempo(us_per_quarter: int) -> bytes:
    return meta(0x51, us_per_quarter.to_bytes(3, "big"))


def simple_midi(notes=None, division: int = 480, ts=(4, 2), tempo_us: int = 500000) -> bytes:
    """A valid one-track file: 4/4, 120 bpm, the given notes (default: a C major arpeggio)."""
    if notes is None:
        notes = [(i * 240, 200, 60 + (i % 4) * 4, 80) for i in range(32)]
    events = time_signature(*ts) + tempo(tempo_us) + notes_events(notes)
    return header(1, 1, division) + track_chunk(events)


# ---- small copies of the real collections ----------------------------------------------------
def _read_table(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _write_table(path: Path, rows: list[dict], fieldnames) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)


def copy_pop909(data_dir: Path, root: Path, songs) -> Path:
    """``root/pop909`` holding the given POP909 song folders and their rows of ``index.csv``."""
    pop = root / "pop909"
    pop.mkdir()
    rows = _read_table(data_dir / "pop909" / "index.csv")
    _write_table(pop / "index.csv", [r for r in rows if r["song_id"] in songs], rows[0].keys())
    for song in songs:
        shutil.copytree(data_dir / "pop909" / song, pop / song)
    return pop


def copy_groove(data_dir: Path, root: Path, train: int, validation: int, keep=lambda row: True) -> Path:
    """``root/groove`` holding the first ``train`` train and ``validation`` validation
    performances of the Groove MIDI Dataset (among the ``info.csv`` rows ``keep`` accepts),
    with an ``info.csv`` listing just those."""
    groove = root / "groove"
    info = _read_table(data_dir / "groove" / "info.csv")
    candidates = [r for r in info if keep(r)]
    picked = [r for r in candidates if r["split"] == "train"][:train] + [
        r for r in candidates if r["split"] == "validation"
    ][:validation]
    for r in picked:
        (groove / r["midi_filename"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(data_dir / "groove" / r["midi_filename"], groove / r["midi_filename"])
    _write_table(groove / "info.csv", picked, info[0].keys())
    return groove


# ---- unusual but valid files (issue 14) ------------------------------------------------------
def _bar(n: int, division: int = 480, beats: int = 4) -> int:
    return n * beats * division


def _arpeggio(start: int = 0, count: int = 16, step: int = 240, pitch: int = 60) -> list:
    return [(start + i * step, step - 40, pitch + (i % 4) * 4, 60 + (i % 5) * 10) for i in range(count)]


def _running_status(notes, channel: int = 0) -> bytes:
    """Note events written with running status: one status byte, then data pairs (note-off as velocity 0)."""
    timeline = sorted(
        [(s, 1, p, v) for s, _d, p, v in notes] + [(s + d, 0, p, 0) for s, d, p, _v in notes],
        key=lambda e: (e[0], e[1]),
    )
    out, now = vlq(timeline[0][0]) + bytes([0x90 | channel, timeline[0][2], timeline[0][3]]), timeline[0][0]
    for tick, _, pitch, vel in timeline[1:]:
        out += vlq(tick - now) + bytes([pitch, vel])
        now = tick
    return out


def _meter_changes(changes, notes) -> bytes:
    """Time-signature events at given ticks, merged into one track with the notes."""
    events = [(tick, 0, bytes([0xFF, 0x58, 4, num, power, 24, 8])) for tick, num, power in changes]
    for s, d, p, v in notes:
        events += [(s, 2, bytes([0x90, p, v])), (s + d, 1, bytes([0x80, p, 0]))]
    events.sort(key=lambda e: (e[0], e[1]))
    out, now = b"", 0
    for tick, _, msg in events:
        out += vlq(tick - now) + msg
        now = tick
    return out


def unusual_valid_files() -> dict[str, bytes]:
    """Standard MIDI Files that are odd but valid: every one must be accepted by ``cadenza vary``."""
    files = {}
    ts, tp = time_signature(4, 2), tempo(500000)
    files["leading_silence"] = simple_midi(_arpeggio(_bar(6)))
    files["starts_at_bar_1000"] = simple_midi(_arpeggio(_bar(1000)))
    good = simple_midi()
    files["unknown_chunks_and_trailing_bytes"] = (
        good[:14] + b"XFIH" + struct.pack(">I", 4) + b"data" + good[14:] + b"XYZW" + struct.pack(">I", 2) + b"ok"
    ) + b"\x00\x00junk"
    files["running_status"] = header() + track_chunk(ts + tp + _running_status(_arpeggio()))
    files["odd_meter_7_8"] = simple_midi(_arpeggio(step=240, count=28), ts=(7, 3))
    files["five_four"] = simple_midi(_arpeggio(count=40), ts=(5, 2))
    files["compound_12_8"] = simple_midi(_arpeggio(step=240, count=32), ts=(12, 3))
    files["two_four"] = simple_midi(_arpeggio(), ts=(2, 2))
    files["meter_changes_after_the_idea"] = header() + track_chunk(
        tp + _meter_changes([(0, 4, 2), (_bar(4), 3, 2), (_bar(4) + 3 * 480 * 2, 5, 2)], _arpeggio(count=56))
    )
    files["meter_changes_inside_the_idea"] = header() + track_chunk(  # 4/4 3/4 5/4 4/4, one bar each
        tp
        + _meter_changes(
            [(0, 4, 2), (_bar(1), 3, 2), (_bar(1) + 1440, 5, 2), (_bar(1) + 3840, 4, 2)], _arpeggio(count=32)
        )
    )
    files["tempo_changes"] = header() + track_chunk(
        ts
        + tp
        + meta(0x51, (400000).to_bytes(3, "big"), 0)
        + notes_events(_arpeggio())
        + meta(0x51, (700000).to_bytes(3, "big"), 100)
    )
    zero = b"".join(vlq(0 if i == 0 else 480) + bytes([0x90, 60 + i, 80, 0, 0x80, 60 + i, 0]) for i in range(8))
    files["zero_length_notes"] = header() + track_chunk(
        ts + tp + zero + vlq(480) + bytes([0x90, 72, 80]) + vlq(480) + bytes([0x80, 72, 0])
    )
    overlapping = [(0, 960, 60, 80), (240, 960, 60, 90), (480, 240, 60, 70), (1920, 480, 64, 80)]
    files["overlapping_same_pitch"] = header() + track_chunk(ts + tp + notes_events(overlapping))
    drums = [(i * 240, 60, 36 if i % 4 == 0 else 42, 100) for i in range(32)]
    files["format_0_two_channels"] = header(0, 1) + track_chunk(
        ts + tp + _merge(notes_events(_arpeggio(count=32)), notes_events(drums, channel=9))
    )
    files["format_2"] = (
        header(2, 2)
        + track_chunk(ts + tp + notes_events(_arpeggio()))
        + track_chunk(ts + tp + notes_events(_arpeggio(pitch=48)))
    )
    files["many_tracks"] = (
        header(1, 40)
        + track_chunk(ts + tp)
        + b"".join(
            track_chunk(notes_events(_arpeggio(count=4 + k % 16, pitch=40 + k), channel=k % 16 if k % 16 != 9 else 0))
            for k in range(39)
        )
    )
    files["empty_conductor_track_first"] = (
        header(1, 3)
        + track_chunk(ts + tp)
        + track_chunk(notes_events([(0, 480, 72, 80)]))
        + track_chunk(notes_events(_arpeggio(count=32)))
    )
    files["division_96"] = simple_midi([(s // 5, max(d // 5, 1), p, v) for s, d, p, v in _arpeggio()], division=96)
    files["division_960"] = simple_midi([(s * 2, d * 2, p, v) for s, d, p, v in _arpeggio()], division=960)
    extras = meta(0x01, b"text") + meta(0x59, b"\x00\x00") + b"\x00\xf0\x05\x7e\x7f\x09\x01\xf7" + b"\x00\xb0\x07\x64"
    files["sysex_controllers_and_text"] = header() + track_chunk(ts + tp + extras + notes_events(_arpeggio()))
    files["long_notes_past_the_window"] = simple_midi([(i * 1920, 1920 * 6, 48 + i, 80) for i in range(4)])
    files["note_just_before_the_window_end"] = simple_midi(_arpeggio(count=31) + [(_bar(4) - 7, 60, 67, 90)])
    return files


def _merge(a: bytes, b: bytes) -> bytes:
    """Two event streams (delta-timed, no running status) merged into one, in time order."""

    def absolute(stream: bytes):
        events, pos, now = [], 0, 0
        while pos < len(stream):
            delta = 0
            while True:
                byte = stream[pos]
                pos += 1
                delta = (delta << 7) | (byte & 0x7F)
                if not byte & 0x80:
                    break
            now += delta
            events.append((now, stream[pos : pos + 3]))
            pos += 3
        return events

    out, now = b"", 0
    for tick, msg in sorted(absolute(a) + absolute(b), key=lambda e: e[0]):
        out += vlq(tick - now) + msg
        now = tick
    return out
