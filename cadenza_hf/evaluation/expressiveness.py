"""Expressiveness metrics of the performer (paper §4.2, Table 4) and note-level errors.

Two families of figures, all pure functions of note arrays:

- **Distributions** (paper Table 4). Velocity as a 128-bin histogram of MIDI velocities;
  microtiming as a 100-bin histogram of each onset's deviation from the nearest 16th
  note, in percent of a 16th (-50 .. +50, the 16th grid anchored at tick 0 = the
  excerpt's first bar line). Two distributions are compared with the KL divergence of
  their histograms and the absolute differences of their means and standard deviations.
- **Errors against the real performance** of the same notes: velocity MAE and
  microtiming MAE (in ticks and in percent of a 16th), notes matched one-to-one.
- **Human-likeness** (issue 16): eight features per excerpt (:data:`EXCERPT_FEATURES`) and
  a classifier two-sample test: a logistic regression tells real excerpts from performed
  ones, scored by cross-validated accuracy (0.5: indistinguishable); next to it, within-
  excerpt velocity spread, lag-1 autocorrelation, beat accent and timing spread of real
  and performed, and the within-excerpt correlation of a point estimate with the real
  velocities (:func:`human_likeness`).

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
    ref = microtiming_percent(reference, ticks_per_quarter)
    mod = microtiming_percent(model, ticks_per_quarter)
    return compare_values(ref, mod, _percent_histogram, eps)


def _percent_histogram(pct) -> np.ndarray:
    """Counts of timing values (percent of a 16th) in the Table 4 microtiming bins."""
    return np.histogram(pct, bins=MICROTIMING_BINS, range=MICROTIMING_RANGE)[0]


def score_timing_figures(reference, model, eps: float = DEFAULT_EPS) -> dict:
    """:func:`compare_values` on each note's onset minus its score onset (percent of a 16th, 100 bins
    over -50..+50%, values beyond clipped into the end bins): the timing the player added.

    The paper's :func:`microtiming_figures` measures the deviation from the nearest 16th, which
    also counts the score's own notes off the 16th grid (triplets, 32nds: 14% of the (n)ASAP and
    Groove training onsets, 1% of POP909's). Performers that fill the same inputs share that part,
    so this figure is the one that tells their timing apart. Both arguments are
    :class:`PerformedNotes` (the score onset is their ``grid``).
    """

    def percent(notes: PerformedNotes) -> np.ndarray:
        pct = ticks_to_percent(notes.microtiming, notes.ticks_per_quarter)
        return np.clip(pct, MICROTIMING_RANGE[0], np.nextafter(MICROTIMING_RANGE[1], MICROTIMING_RANGE[0]))

    return compare_values(percent(reference), percent(model), _percent_histogram, eps)


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


# ---- human-likeness: per-excerpt features and a classifier two-sample test ---------------
EXCERPT_FEATURES = (
    "velocity_mean",  # dynamics level
    "velocity_std",  # dynamics spread within the excerpt
    "velocity_step",  # mean |change| of velocity from one note to the next (notes in score order)
    "velocity_lag1",  # lag-1 autocorrelation of the velocities in score order (0 when they are constant)
    "beat_accent",  # mean velocity on the beat minus off the beat (0 when either is empty)
    "timing_std",  # spread of microtiming, % of a 16th
    "timing_abs",  # mean |microtiming|, % of a 16th
    "timing_mean",  # mean signed microtiming, % of a 16th (ahead of or behind the beat)
)


def _in_score_order(notes: PerformedNotes) -> np.ndarray:
    """Indices of the notes sorted by (grid onset, pitch): the order a listener hears them in."""
    return np.lexsort((notes.pitch, notes.grid))


def lag1_autocorrelation(values) -> float:
    """Lag-1 autocorrelation of a sequence (about its own mean); 0 for fewer than 3 values or a constant one."""
    x = np.asarray(values, np.float64)
    if len(x) < 3:
        return 0.0
    x = x - x.mean()
    denominator = float(np.sum(x * x))
    return float(np.sum(x[:-1] * x[1:]) / denominator) if denominator > 0 else 0.0


def excerpt_features(notes: PerformedNotes, time_signature="4/4") -> dict[str, float]:
    """The :data:`EXCERPT_FEATURES` of one excerpt's notes.

    Beats are the meter's beat unit (a quarter in x/4, an eighth in x/8) from the
    excerpt's first bar line; a note is on the beat when its grid onset is a whole
    number of beats. Microtiming is performed minus grid onset, in % of a 16th.
    """
    if not len(notes):
        raise ValueError("an excerpt needs at least one note")
    order = _in_score_order(notes)
    velocity = notes.velocity[order].astype(np.float64)
    _, den = parse_meter(time_signature)
    beat = notes.ticks_per_quarter * 4 // den
    on_beat = (notes.grid[order] % beat) == 0
    accent = float(velocity[on_beat].mean() - velocity[~on_beat].mean()) if on_beat.any() and (~on_beat).any() else 0.0
    timing = ticks_to_percent(notes.microtiming[order], notes.ticks_per_quarter)
    return {
        "velocity_mean": float(velocity.mean()),
        "velocity_std": float(velocity.std()),
        "velocity_step": float(np.abs(np.diff(velocity)).mean()) if len(velocity) > 1 else 0.0,
        "velocity_lag1": lag1_autocorrelation(velocity),
        "beat_accent": accent,
        "timing_std": float(timing.std()),
        "timing_abs": float(np.abs(timing).mean()),
        "timing_mean": float(timing.mean()),
    }


def feature_matrix(excerpts: list[PerformedNotes], time_signatures=None) -> np.ndarray:
    """``(n_excerpts, 8)`` array of :func:`excerpt_features` (columns in :data:`EXCERPT_FEATURES` order)."""
    meters = time_signatures if time_signatures is not None else ["4/4"] * len(excerpts)
    rows = [excerpt_features(n, m) for n, m in zip(excerpts, meters, strict=True)]
    return np.asarray([[r[k] for k in EXCERPT_FEATURES] for r in rows], np.float64).reshape(-1, len(EXCERPT_FEATURES))


def classifier_two_sample_test(real: np.ndarray, performed: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated accuracy of a logistic regression telling ``real`` rows from ``performed`` ones.

    ``real`` and ``performed`` are ``(n, features)`` arrays whose row ``k`` is the same
    excerpt (the real performance and the performer's); both rows of a pair go to the
    same fold, so the classifier is always scored on compositions it has not seen.
    Features are standardised inside each training fold. 0.5 means the two cannot be
    told apart; 1.0 that every excerpt is classified right. Needs scikit-learn (the
    ``analysis`` extra).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    real, performed = np.asarray(real, np.float64), np.asarray(performed, np.float64)
    if real.shape != performed.shape or real.ndim != 2:
        raise ValueError(f"need two (n, features) arrays of one shape, got {real.shape} and {performed.shape}")
    pairs = len(real)
    if pairs < folds:
        raise ValueError(f"need at least {folds} excerpt pairs for {folds}-fold cross-validation, got {pairs}")
    x = np.concatenate([real, performed])
    y = np.concatenate([np.zeros(pairs), np.ones(pairs)])
    groups = np.random.default_rng(seed).permutation(pairs)
    groups = np.concatenate([groups, groups])  # a pair shares its group
    correct = 0
    for train, test in GroupKFold(n_splits=folds).split(x, y, groups):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        model.fit(x[train], y[train])
        correct += int((model.predict(x[test]) == y[test]).sum())
    return correct / len(x)


def velocity_correlation(performed: PerformedNotes, real: PerformedNotes) -> float:
    """Pearson correlation of performed and real velocities of one excerpt's matched notes.

    0 when either is constant: a flat estimate says nothing about which notes are louder.
    """
    i, j = match_notes(performed, real)
    a, b = performed.velocity[i].astype(np.float64), real.velocity[j].astype(np.float64)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def human_likeness(
    real: list[PerformedNotes],
    performed: list[PerformedNotes],
    time_signatures=None,
    point_estimate: list[PerformedNotes] | None = None,
    folds: int = 5,
    seed: int = 0,
) -> dict:
    """The human-likeness figures of performed excerpts against the real performances of the same notes.

    Returns a dict: ``classifier_accuracy`` (:func:`classifier_two_sample_test` on the
    eight features), per feature the mean over excerpts for ``real`` and ``performed``
    (``features``), ``velocity_spread_ratio`` (mean within-excerpt velocity std,
    performed over real), ``timing_spread_ratio`` (the same for microtiming), and, when
    ``point_estimate`` (the performer's temperature-0 output) is given,
    ``point_correlation``: the mean within-excerpt correlation of its velocities with the
    real ones (:func:`velocity_correlation`).
    """
    if len(real) != len(performed):
        raise ValueError(f"{len(real)} real excerpts but {len(performed)} performed ones")
    f_real, f_perf = feature_matrix(real, time_signatures), feature_matrix(performed, time_signatures)
    means = {
        k: {"real": float(f_real[:, c].mean()), "performed": float(f_perf[:, c].mean())}
        for c, k in enumerate(EXCERPT_FEATURES)
    }

    def ratio(key):
        return means[key]["performed"] / means[key]["real"] if means[key]["real"] > 0 else float("nan")

    out = {
        "excerpts": len(real),
        # fewer excerpts than folds: one fold per excerpt (leave-one-pair-out); no test below two pairs
        "classifier_accuracy": (
            classifier_two_sample_test(f_real, f_perf, min(folds, len(real)), seed) if len(real) >= 2 else float("nan")
        ),
        "velocity_spread_ratio": ratio("velocity_std"),
        "timing_spread_ratio": ratio("timing_std"),
        "features": means,
    }
    if point_estimate is not None:
        out["point_correlation"] = float(np.mean([velocity_correlation(p, r) for p, r in zip(point_estimate, real)]))
    return out


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
    "EXCERPT_FEATURES",
    "MICROTIMING_BINS",
    "VELOCITY_BINS",
    "PerformedNotes",
    "classifier_two_sample_test",
    "compare_values",
    "excerpt_features",
    "feature_matrix",
    "human_likeness",
    "kl_divergence",
    "lag1_autocorrelation",
    "match_notes",
    "microtiming_figures",
    "microtiming_histogram",
    "microtiming_mae",
    "microtiming_percent",
    "note_errors",
    "onsets_of",
    "parse_meter",
    "score_notes",
    "score_timing_figures",
    "ticks_to_percent",
    "velocities_of",
    "velocity_figures",
    "velocity_correlation",
    "velocity_histogram",
    "velocity_mae",
]
