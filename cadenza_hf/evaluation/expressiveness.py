"""Expressiveness metrics of the performer (paper §4.2, Table 4) and note-level errors.

Two families of figures, all pure functions of note arrays:

- **Distributions** (paper Table 4). Velocity as a 128-bin histogram of MIDI velocities;
  microtiming as a 100-bin histogram of each onset's deviation from the nearest 16th
  note, in percent of a 16th (-50 .. +50, the 16th grid anchored at tick 0 = the
  excerpt's first bar line). Two distributions are compared with the KL divergence of
  their histograms and the absolute differences of their means and standard deviations.
- **Errors against the real performance** of the same notes: velocity MAE and
  microtiming MAE (in ticks and in percent of a 16th), notes matched one-to-one.

KL convention: ``kl_divergence(p, q)`` is KL(p || q) = sum_i p_i log(p_i / q_i), in nats.
Both histograms are normalised to probabilities, ``eps`` (default 1e-6) is added to every
bin and they are renormalised, so an empty model bin costs a large but finite penalty;
identical histograms give exactly 0. The paper does not state a direction; the
evaluation reports KL(reference || model) (how badly the model's output misses the
training set's expressive range, which penalises a performer that collapses onto a few
values) and keeps the reverse direction in its JSON.

Example:

>>> import numpy as np
>>> from cadenza_hf.evaluation.expressiveness import microtiming_percent, velocity_histogram, kl_divergence
>>> float(microtiming_percent([480 + 30], ticks_per_quarter=480)[0])  # 30 ticks late = 25% of a 16th
25.0
>>> h = velocity_histogram([64, 64, 80])
>>> kl_divergence(h, h)
0.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VELOCITY_BINS = 128
MICROTIMING_BINS = 100
MICROTIMING_RANGE = (-50.0, 50.0)
DEFAULT_EPS = 1e-6


# ---- notes ------------------------------------------------------------------------------
@dataclass
class PerformedNotes:
    """The notes of one (or several concatenated) excerpts, with their score grid.

    Args:
        grid (`np.ndarray`): quantized onset of each note in ticks (the score position).
        onset (`np.ndarray`): performed onset in ticks (grid plus microtiming).
        pitch (`np.ndarray`): MIDI pitch of each note.
        velocity (`np.ndarray`): MIDI velocity of each note.
        ticks_per_quarter (`int`, *optional*, defaults to 480): time resolution.
    """

    grid: np.ndarray
    onset: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray
    ticks_per_quarter: int = 480

    def __post_init__(self):
        self.grid, self.onset = np.asarray(self.grid, np.int64), np.asarray(self.onset, np.int64)
        self.pitch, self.velocity = np.asarray(self.pitch, np.int64), np.asarray(self.velocity, np.int64)
        if not len(self.grid) == len(self.onset) == len(self.pitch) == len(self.velocity):
            raise ValueError("grid, onset, pitch and velocity must have the same length")

    def __len__(self) -> int:
        return len(self.onset)

    @property
    def microtiming(self) -> np.ndarray:
        """Performed minus quantized onset, in ticks."""
        return self.onset - self.grid

    @classmethod
    def from_ids(cls, tokenizer, ids, time_signature="4/4") -> PerformedNotes:
        """Decode full PerTok ids (one excerpt) into notes.

        The grid comes from decoding the same ids without their MicroTiming tokens, so
        notes keep token order in both decodes. ``time_signature`` is ``(num, den)`` or
        a ``"num/den"`` string (the dataset's column); it sets the bar length.
        """
        tpq = tokenizer.ticks_per_quarter
        tokens = [tokenizer.ids_to_tokens[int(i)] for i in ids]
        full = tokenizer.engine.tokens_to_notes(tokens, _bar_ticks(tpq, time_signature), tpq // 4)
        arr = np.asarray(full, np.int64).reshape(-1, 4)  # onset, duration, pitch, velocity
        grid_onsets = score_notes(tokenizer, ids, time_signature)[:, 0]
        return cls(grid_onsets, arr[:, 0], arr[:, 2], arr[:, 3], tpq)

    @classmethod
    def concatenate(cls, parts: list[PerformedNotes]) -> PerformedNotes:
        """All notes of several excerpts in one array (for corpus-level figures)."""
        if not parts:
            return cls(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
        tpq = {p.ticks_per_quarter for p in parts}
        if len(tpq) != 1:
            raise ValueError(f"cannot concatenate notes at different resolutions {sorted(tpq)}")
        cat = [np.concatenate([getattr(p, f) for p in parts]) for f in ("grid", "onset", "pitch", "velocity")]
        return cls(*cat, ticks_per_quarter=tpq.pop())


def parse_meter(time_signature) -> tuple[int, int]:
    """``"3/4"`` or ``(3, 4)`` -> ``(3, 4)``."""
    if isinstance(time_signature, str):
        num, den = time_signature.split("/")
        return int(num), int(den)
    num, den = time_signature
    return int(num), int(den)


def _bar_ticks(ticks_per_quarter: int, time_signature) -> int:
    num, den = parse_meter(time_signature)
    return ticks_per_quarter * 4 * num // den


def score_notes(tokenizer, ids, time_signature="4/4") -> np.ndarray:
    """The quantized score of one excerpt's full PerTok ids, with its performed velocities.

    Decodes ``ids`` without their MicroTiming tokens: an ``(n, 4)`` int array of grid onset,
    duration, pitch and velocity per note (ticks, token order). ``time_signature`` is as in
    [`PerformedNotes.from_ids`].
    """
    tpq = tokenizer.ticks_per_quarter
    plain = [tok for tok in (tokenizer.ids_to_tokens[int(i)] for i in ids) if not tok.startswith("MicroTiming_")]
    notes = tokenizer.engine.tokens_to_notes(plain, _bar_ticks(tpq, time_signature), tpq // 4)
    return np.asarray(notes, np.int64).reshape(-1, 4)


def _notes_of_score(score) -> tuple[np.ndarray, np.ndarray]:
    """Onsets and velocities of every note of every track of a ``symusic.Score``."""
    arrays = [t.notes.numpy() for t in score.tracks]
    onsets = np.concatenate([a["time"] for a in arrays]) if arrays else np.zeros(0)
    velocities = np.concatenate([a["velocity"] for a in arrays]) if arrays else np.zeros(0)
    return onsets.astype(np.int64), velocities.astype(np.int64)


def velocities_of(notes) -> np.ndarray:
    """Velocities of a ``symusic.Score``, :class:`PerformedNotes` or an array of velocities."""
    if isinstance(notes, PerformedNotes):
        return notes.velocity
    if hasattr(notes, "tracks"):
        return _notes_of_score(notes)[1]
    return np.asarray(notes, np.int64)


def onsets_of(notes, ticks_per_quarter: int | None = None) -> tuple[np.ndarray, int]:
    """Onsets in ticks and their resolution, from a Score, :class:`PerformedNotes` or array.

    A plain array is taken at ``ticks_per_quarter`` (480 when not given).
    """
    if isinstance(notes, PerformedNotes):
        return notes.onset, notes.ticks_per_quarter
    if hasattr(notes, "tracks"):
        return _notes_of_score(notes)[0], int(notes.ticks_per_quarter)
    return np.asarray(notes, np.int64), ticks_per_quarter or 480


# ---- histograms -------------------------------------------------------------------------
def microtiming_percent(notes, ticks_per_quarter: int | None = None) -> np.ndarray:
    """Deviation of each onset from the nearest 16th, in percent of a 16th, in [-50, 50).

    The 16th grid starts at tick 0. A note exactly half-way between two 16ths counts as
    -50% of the later one. Example: 30 ticks after a 16th at 480 tpq is 30/120 = +25%.
    """
    onsets, tpq = onsets_of(notes, ticks_per_quarter)
    steps = onsets.astype(np.float64) / (tpq / 4)
    return (steps - np.floor(steps + 0.5)) * 100.0


def ticks_to_percent(ticks, ticks_per_quarter: int = 480):
    """Ticks as a percentage of a 16th note (120 ticks at 480 tpq)."""
    return np.asarray(ticks, np.float64) * 100.0 / (ticks_per_quarter / 4)


def velocity_histogram(notes) -> np.ndarray:
    """Counts of each MIDI velocity 0..127 (128 bins, paper's v in Z^128)."""
    v = velocities_of(notes)
    if len(v) and (v.min() < 0 or v.max() >= VELOCITY_BINS):
        raise ValueError(f"velocities must lie in 0..127, got {v.min()}..{v.max()}")
    return np.bincount(v, minlength=VELOCITY_BINS)


def microtiming_histogram(notes, ticks_per_quarter: int | None = None, bins: int = MICROTIMING_BINS) -> np.ndarray:
    """Counts of deviations from the nearest 16th in ``bins`` equal bins over -50..+50%
    (paper's mt in Z^100: 1% per bin by default)."""
    counts, _ = np.histogram(microtiming_percent(notes, ticks_per_quarter), bins=bins, range=MICROTIMING_RANGE)
    return counts


def kl_divergence(p, q, eps: float = DEFAULT_EPS) -> float:
    """KL(p || q) in nats between two histograms (counts or probabilities) of equal length.

    Each histogram is normalised, ``eps`` is added to every bin and it is renormalised;
    this keeps the divergence finite where one histogram has an empty bin.
    """
    p, q = _smooth(p, eps), _smooth(q, eps)
    if p.shape != q.shape:
        raise ValueError(f"histograms differ in shape: {p.shape} vs {q.shape}")
    return float(np.sum(p * np.log(p / q)))


def _smooth(hist, eps: float) -> np.ndarray:
    h = np.asarray(hist, np.float64)
    total = h.sum()
    if total <= 0 or (h < 0).any():
        raise ValueError("a histogram needs non-negative counts and at least one count")
    h = h / total + eps
    return h / h.sum()


# ---- distribution figures (Table 4) -----------------------------------------------------
def compare_values(reference, model, hist_fn, eps: float = DEFAULT_EPS) -> dict:
    """Table 4 figures of two samples of one attribute (values already in its unit).

    Args:
        reference: values of the reference (training set) notes.
        model: values of the model's notes.
        hist_fn: maps values to a histogram (fixed bins, the same for both).
        eps: KL smoothing (see :func:`kl_divergence`).

    Returns:
        dict with ``kl`` = KL(reference || model), ``kl_reverse`` = KL(model || reference),
        ``mean_diff`` and ``std_diff`` (absolute differences; population std), and the
        means and stds themselves.
    """
    ref, mod = np.asarray(reference, np.float64), np.asarray(model, np.float64)
    if not len(ref) or not len(mod):
        raise ValueError("both samples need at least one note")
    h_ref, h_mod = hist_fn(ref), hist_fn(mod)
    return {
        "kl": kl_divergence(h_ref, h_mod, eps),
        "kl_reverse": kl_divergence(h_mod, h_ref, eps),
        "mean_diff": abs(float(ref.mean() - mod.mean())),
        "std_diff": abs(float(ref.std() - mod.std())),
        "reference_mean": float(ref.mean()),
        "reference_std": float(ref.std()),
        "model_mean": float(mod.mean()),
        "model_std": float(mod.std()),
    }


def velocity_figures(reference, model, eps: float = DEFAULT_EPS) -> dict:
    """:func:`compare_values` on velocities (128-bin histograms) of two note collections."""

    def hist(v):
        return velocity_histogram(np.rint(v).astype(np.int64))

    return compare_values(velocities_of(reference), velocities_of(model), hist, eps)


def microtiming_figures(reference, model, ticks_per_quarter: int | None = None, eps: float = DEFAULT_EPS) -> dict:
    """:func:`compare_values` on deviations from the nearest 16th (percent, 100 bins)."""

    def hist(pct):
        return np.histogram(pct, bins=MICROTIMING_BINS, range=MICROTIMING_RANGE)[0]

    ref = microtiming_percent(reference, ticks_per_quarter)
    mod = microtiming_percent(model, ticks_per_quarter)
    return compare_values(ref, mod, hist, eps)


# ---- note-level errors against the real performance -------------------------------------
def match_notes(performed: PerformedNotes, real: PerformedNotes) -> tuple[np.ndarray, np.ndarray]:
    """Pair the notes of two performances of the same composition.

    Both are ordered by (quantized onset, pitch) (stable, so repeated notes keep their
    order). Returns index arrays ``(i, j)`` with ``performed[i[k]]`` played as ``real[j[k]]``.
    Raises ValueError if the two do not hold the same (grid, pitch) notes.
    """
    i = np.lexsort((performed.pitch, performed.grid))
    j = np.lexsort((real.pitch, real.grid))
    same = (
        len(i) == len(j)
        and np.array_equal(performed.grid[i], real.grid[j])
        and np.array_equal(performed.pitch[i], real.pitch[j])
    )
    if not same:
        raise ValueError(f"the performances hold different notes ({len(i)} vs {len(j)}): not the same composition")
    return i, j


def note_errors(performed: PerformedNotes, real: PerformedNotes) -> dict:
    """Absolute per-note errors: ``velocity`` and ``microtiming`` (ticks), matched notes."""
    i, j = match_notes(performed, real)
    return {
        "velocity": np.abs(performed.velocity[i] - real.velocity[j]),
        "microtiming": np.abs(performed.onset[i] - real.onset[j]),
    }


def velocity_mae(performed: PerformedNotes, real: PerformedNotes) -> float:
    """Mean absolute velocity error over matched notes."""
    return float(note_errors(performed, real)["velocity"].mean())


def microtiming_mae(performed: PerformedNotes, real: PerformedNotes, unit: str = "ticks") -> float:
    """Mean absolute onset error over matched notes, in ``"ticks"`` or ``"percent"`` of a 16th."""
    mae = float(note_errors(performed, real)["microtiming"].mean())
    if unit == "ticks":
        return mae
    if unit == "percent":
        return float(ticks_to_percent(mae, real.ticks_per_quarter))
    raise ValueError(f"unit must be 'ticks' or 'percent', got {unit!r}")


__all__ = [
    "DEFAULT_EPS",
    "MICROTIMING_BINS",
    "VELOCITY_BINS",
    "PerformedNotes",
    "compare_values",
    "kl_divergence",
    "match_notes",
    "microtiming_figures",
    "microtiming_histogram",
    "microtiming_mae",
    "microtiming_percent",
    "note_errors",
    "onsets_of",
    "parse_meter",
    "score_notes",
    "ticks_to_percent",
    "velocities_of",
    "velocity_figures",
    "velocity_histogram",
    "velocity_mae",
]
