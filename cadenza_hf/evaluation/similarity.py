"""Similarity of two note lists: the composer metrics of the paper's Table 2 (eq. 8).

Four numbers, each in [0, 100], compare an input idea ``a`` with a variation ``b`` of the
same bar length:

- **pitch**: cosine similarity x 100 of the 128-bin MIDI pitch histograms;
- **onset**: the same for onset-position histograms: every onset goes to its nearest
  16th from the start of the excerpt, one bin per 16th of the excerpt (64 bins for 4 bars
  of 4/4; ``bars * sixteenths_per_bar`` in general, e.g. 48 for 4 bars of 3/4);
- **duration**: the same for duration histograms: every duration rounded to the nearest
  16th, at least one 16th, clipped to 64 16ths (bin ``k`` holds notes of ``k + 1`` 16ths);
- **absolute**: the share of notes that are identical in pitch, onset and duration (all
  three quantized as above), see :func:`absolute_similarity`.

Conventions:

- A side with no notes has an all-zero histogram, and every similarity involving it is 0
  (not NaN), even when both sides are empty: an empty output is never "like" its input.
- Notes are given as a ``symusic.Score`` (every track's notes, at the score's own ticks
  per quarter) or as an integer array of shape ``(N, 3)`` with columns
  ``(time, duration, pitch)`` in ticks (``ticks_per_quarter`` says how many per quarter).
- Drum tracks have no written durations (PerTok writes none), so their decoded durations
  are all the same default and their duration similarity is 100 whenever both sides have
  notes; read the duration column for pitched tracks only.

Example:

```python
>>> import numpy as np
>>> from cadenza_hf.evaluation.similarity import similarity
>>> a = np.array([[0, 480, 60], [480, 480, 64], [960, 960, 67]])  # (time, duration, pitch)
>>> s = similarity(a, a, ticks_per_quarter=480)
>>> s.pitch, s.onset, s.duration, s.absolute
(100.0, 100.0, 100.0, 100.0)

```
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np

PITCH_BINS = 128
DURATION_BINS = 64
SIXTEENTHS_PER_WHOLE = 16


@dataclass(frozen=True)
class Similarity:
    """The four Table 2 similarities between two note lists, each in [0, 100]."""

    pitch: float
    onset: float
    duration: float
    absolute: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def note_array(notes, ticks_per_quarter: int | None = None) -> tuple[np.ndarray, int]:
    """Notes as an ``(N, 3)`` int64 array ``(time, duration, pitch)`` plus their ticks per quarter.

    Args:
        notes: a ``symusic.Score`` (all tracks' notes; its own ticks per quarter is used) or
            anything ``np.asarray`` turns into shape ``(N, 3)`` (or an empty sequence).
        ticks_per_quarter (`int`, *optional*): resolution of an array input (default 480);
            ignored for a Score.
    """
    if hasattr(notes, "tracks") and hasattr(notes, "ticks_per_quarter"):
        parts = [t.notes.numpy() for t in notes.tracks if len(t.notes)]
        cols = [np.stack([p["time"], p["duration"], p["pitch"]], axis=1).astype(np.int64) for p in parts]
        arr = np.concatenate(cols) if cols else np.zeros((0, 3), dtype=np.int64)
        return arr, int(notes.ticks_per_quarter)
    arr = np.asarray(notes, dtype=np.int64).reshape(-1, 3)
    return arr, int(ticks_per_quarter or 480)


def num_onset_bins(bars: int = 4, time_signature: tuple[int, int] = (4, 4)) -> int:
    """16ths in ``bars`` bars of ``time_signature``: 64 for 4 bars of 4/4, 48 of 3/4, 96 of 12/8."""
    num, den = time_signature
    return max(1, round(bars * num * SIXTEENTHS_PER_WHOLE / den))


def quantize(notes: np.ndarray, ticks_per_quarter: int, num_onsets: int) -> np.ndarray:
    """``(N, 3)`` int array ``(pitch, onset, duration)``: onset and duration in nearest 16ths.

    Onsets are clipped to ``[0, num_onsets - 1]``; durations are at least one 16th
    (not clipped here; :func:`duration_histogram` clips them to its bins).
    """
    sixteenth = ticks_per_quarter / 4
    onset = np.clip(np.floor(notes[:, 0] / sixteenth + 0.5), 0, num_onsets - 1)
    duration = np.maximum(np.floor(notes[:, 1] / sixteenth + 0.5), 1)
    return np.stack([notes[:, 2], onset, duration], axis=1).astype(np.int64)


def cosine_similarity(x: np.ndarray, y: np.ndarray) -> float:
    """``100 * <x, y> / (|x| |y|)`` (paper eq. 8); 0 when either vector is all zeros."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    norm = np.sqrt(np.dot(x, x) * np.dot(y, y))  # exact for integer counts: identical -> exactly 100
    return 0.0 if norm == 0 else float(np.clip(100.0 * np.dot(x, y) / norm, 0.0, 100.0))


def pitch_histogram(quantized: np.ndarray) -> np.ndarray:
    """Counts of each MIDI pitch (128 bins) of a :func:`quantize` output."""
    return np.bincount(np.clip(quantized[:, 0], 0, PITCH_BINS - 1), minlength=PITCH_BINS)


def onset_histogram(quantized: np.ndarray, num_onsets: int) -> np.ndarray:
    """Counts of onsets at each 16th of the excerpt (``num_onsets`` bins)."""
    return np.bincount(quantized[:, 1], minlength=num_onsets)


def duration_histogram(quantized: np.ndarray) -> np.ndarray:
    """Counts of durations of 1..64 16ths (64 bins; longer notes go to the last bin)."""
    return np.bincount(np.clip(quantized[:, 2], 1, DURATION_BINS) - 1, minlength=DURATION_BINS)


def absolute_similarity(qa: np.ndarray, qb: np.ndarray) -> float:
    """Share of identical notes, x 100: ``|A ∩ B| / max(|A|, |B|)`` over multisets of notes.

    A note is its ``(pitch, onset, duration)`` after :func:`quantize`; ``A ∩ B`` is the
    multiset intersection (a note played twice in ``a`` and once in ``b`` matches once).
    Dividing by the larger count makes the number symmetric, 100 only for identical
    multisets, and penalises missing notes and added notes alike (it is the smaller of
    recall ``|A ∩ B| / |A|`` and precision ``|A ∩ B| / |B|``): an output that copies the
    input and piles extra notes on top is not "identical". 0 when either side is empty.
    """
    if len(qa) == 0 or len(qb) == 0:
        return 0.0
    ca, cb = Counter(map(tuple, qa.tolist())), Counter(map(tuple, qb.tolist()))
    return 100.0 * sum((ca & cb).values()) / max(len(qa), len(qb))


def onset_slot_jaccard(
    a, b, bars: int = 4, time_signature: tuple[int, int] = (4, 4), ticks_per_quarter: int | None = None
) -> float:
    """Jaccard overlap (0-1) of the sets of 16th-grid slots where ``a`` and ``b`` have an onset.

    Unlike the onset histogram, this ignores how many notes share a slot: it asks whether
    the two excerpts put notes at the same places in the bar, i.e. share a rhythm. Two
    silent excerpts score 1.
    """
    num_onsets = num_onset_bins(bars, time_signature)
    slots = [set(quantize(*note_array(x, ticks_per_quarter), num_onsets)[:, 1].tolist()) for x in (a, b)]
    union = slots[0] | slots[1]
    return len(slots[0] & slots[1]) / len(union) if union else 1.0


def similarity(
    a, b, bars: int = 4, time_signature: tuple[int, int] = (4, 4), ticks_per_quarter: int | None = None
) -> Similarity:
    """The four Table 2 similarities between the notes of ``a`` and ``b``.

    Args:
        a, b: two excerpts of the same length starting at tick 0, each a ``symusic.Score``
            or an ``(N, 3)`` array ``(time, duration, pitch)`` (see :func:`note_array`).
        bars (`int`, *optional*, defaults to 4): bars in each excerpt.
        time_signature (`tuple[int, int]`, *optional*, defaults to `(4, 4)`): their meter;
            with ``bars`` it sets the number of onset bins (:func:`num_onset_bins`).
        ticks_per_quarter (`int`, *optional*): resolution of array inputs (default 480).

    Returns:
        [`Similarity`] with ``pitch``, ``onset``, ``duration`` and ``absolute`` in [0, 100].
    """
    num_onsets = num_onset_bins(bars, time_signature)
    qa = quantize(*note_array(a, ticks_per_quarter), num_onsets)
    qb = quantize(*note_array(b, ticks_per_quarter), num_onsets)
    return Similarity(
        pitch=cosine_similarity(pitch_histogram(qa), pitch_histogram(qb)),
        onset=cosine_similarity(onset_histogram(qa, num_onsets), onset_histogram(qb, num_onsets)),
        duration=cosine_similarity(duration_histogram(qa), duration_histogram(qb)),
        absolute=absolute_similarity(qa, qb),
    )


__all__ = [
    "DURATION_BINS",
    "PITCH_BINS",
    "Similarity",
    "absolute_similarity",
    "cosine_similarity",
    "duration_histogram",
    "note_array",
    "onset_slot_jaccard",
    "num_onset_bins",
    "onset_histogram",
    "pitch_histogram",
    "quantize",
    "similarity",
]
