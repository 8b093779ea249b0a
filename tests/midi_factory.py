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
