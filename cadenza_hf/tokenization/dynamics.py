"""Dynamics levels per bar: the side information of a "one player in one mood" performer.

A performer with ``config.dynamics_levels > 0`` reads, at every token, the dynamics level of
the token's bar: the bar's mean velocity in bins of ``width`` velocity units (level ``k``
covers ``[k * width, (k + 1) * width)``), offset by one so that 0 means "unknown". Training
reads the levels off the real performance; a performance of a bare score draws them as a
short random walk (first bar from the style's distribution of first-bar levels, then one
bar-to-bar change per bar from the distribution of changes), so the notes of an excerpt
share one level that moves as a phrase moves, while the model places each note around it.

This module turns PerTok ids into per-token bar indices and levels and measures the two
distributions on training rows; plain Python on lists of ids (no torch, no models).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

UNKNOWN_LEVEL = 0


def bar_indices(ids: Sequence[int], bar_id: int) -> list[int]:
    """The 0-based bar of every token (counted at each Bar token); tokens before the first Bar get bar 0."""
    out, bar = [], -1
    for token in ids:
        bar += token == bar_id
        out.append(max(bar, 0))
    return out


def bar_mean_velocities(ids: Sequence[int], bar_id: int, velocity_values: Mapping[int, int]) -> list[float | None]:
    """The mean velocity of each bar's velocity tokens (None for a bar without one), bar 0 first."""
    sums: list[list[float]] = []
    for token, bar in zip(ids, bar_indices(ids, bar_id)):
        while len(sums) <= bar:
            sums.append([0.0, 0])
        if token in velocity_values:
            sums[bar][0] += velocity_values[token]
            sums[bar][1] += 1
    return [total / count if count else None for total, count in sums]


def velocity_level(velocity: float, levels: int, width: int) -> int:
    """The 0-based dynamics level of a mean velocity."""
    return min(levels - 1, max(0, int(velocity // width)))


def bar_levels(
    ids: Sequence[int], bar_id: int, velocity_values: Mapping[int, int], levels: int, width: int
) -> list[int]:
    """0-based level of each bar; a bar without notes takes its previous bar's level (the first bars the first
    level heard). Empty when no bar has a velocity."""
    means = bar_mean_velocities(ids, bar_id, velocity_values)
    known = [velocity_level(m, levels, width) for m in means if m is not None]
    if not known:
        return []
    out, last = [], known[0]
    for mean in means:
        last = velocity_level(mean, levels, width) if mean is not None else last
        out.append(last)
    return out


def token_levels(
    ids: Sequence[int], bar_id: int, velocity_values: Mapping[int, int], levels: int, width: int
) -> list[int]:
    """Per token, 1 + the level of its bar read off the velocities in ``ids`` (all 0, unknown, when it has none)."""
    per_bar = bar_levels(ids, bar_id, velocity_values, levels, width)
    if not per_bar:
        return [UNKNOWN_LEVEL] * len(ids)
    return [per_bar[bar] + 1 for bar in bar_indices(ids, bar_id)]


def level_statistics(
    rows: Iterable[Sequence[int]],
    bar_id: int,
    velocity_values: Mapping[int, int],
    levels: int,
    width: int,
    max_step: int,
) -> tuple[list[float], list[float]]:
    """The two distributions a performance draws its levels from, measured on full-performance ``rows``:
    the first bar's level (``levels`` probabilities) and the change from one bar to the next (``2 * max_step + 1``
    probabilities, index ``max_step`` = no change; larger changes are counted at the ends). Add-one smoothed."""
    starts, steps = Counter(), Counter()
    for ids in rows:
        per_bar = bar_levels(ids, bar_id, velocity_values, levels, width)
        if not per_bar:
            continue
        starts[per_bar[0]] += 1
        for a, b in zip(per_bar, per_bar[1:]):
            steps[max(-max_step, min(max_step, b - a))] += 1
    start = [starts[k] + 1 for k in range(levels)]
    step = [steps[k] + 1 for k in range(-max_step, max_step + 1)]
    return [c / sum(start) for c in start], [c / sum(step) for c in step]


__all__ = [
    "UNKNOWN_LEVEL",
    "bar_indices",
    "bar_levels",
    "bar_mean_velocities",
    "level_statistics",
    "token_levels",
    "velocity_level",
]
