"""Piano-roll pictures: an idea and its variations, one row each, velocity as colour.

Needs matplotlib (``pip install "cadenza_hf[plot]"``); the import happens on call, so
the rest of the package works without it.
"""

from __future__ import annotations

import io


def require_matplotlib() -> None:
    """Raise ImportError with the install hint if matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError('plotting needs matplotlib: pip install "cadenza_hf[plot]"') from None


def piano_roll_png(rolls, title: str = "", dpi: int = 110) -> bytes:
    """A PNG of stacked piano rolls.

    Args:
        rolls: ``(label, symusic.Score)`` pairs, drawn top to bottom on a shared time
            axis in beats. Each note is a bar from onset to offset at its pitch, coloured
            by velocity (1-127, one colour scale for all rows). Drum notes are drawn a
            16th long.
        title: a title over the figure.

    Returns:
        The PNG file's bytes.
    """
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import Normalize
    from matplotlib.ticker import FixedLocator

    rolls = list(rolls)
    norm, cmap = Normalize(1, 127), plt.get_cmap("viridis")
    fig, axes = plt.subplots(len(rolls), 1, figsize=(10, 1.0 + 1.6 * len(rolls)), sharex=True, squeeze=False)
    end = 0.0
    for ax, (label, score) in zip(axes[:, 0], rolls):
        tpq = score.ticks_per_quarter
        boxes, colours, pitches = [], [], []
        for track in score.tracks:
            notes = track.notes.numpy()
            for t, d, p, v in zip(notes["time"], notes["duration"], notes["pitch"], notes["velocity"]):
                x0, x1 = t / tpq, (t + (tpq // 4 if track.is_drum else d)) / tpq
                boxes.append([(x0, p - 0.4), (x1, p - 0.4), (x1, p + 0.4), (x0, p + 0.4)])
                colours.append(cmap(norm(v)))
                pitches.append(p)
                end = max(end, x1)
        ax.add_collection(PolyCollection(boxes, facecolors=colours, edgecolors="none"))
        low, high = (min(pitches), max(pitches)) if pitches else (59, 61)
        ax.set_ylim(low - 2, high + 2)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlim(0, max(end, 1.0))
    axes[-1, 0].xaxis.set_major_locator(FixedLocator(_bar_lines(rolls[0][1], max(end, 1.0))))
    axes[-1, 0].set_xlabel("quarter notes (grid lines: bars)")
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes[:, 0].tolist(), label="velocity", pad=0.01)
    if title:
        fig.suptitle(title, fontsize=10)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def _bar_lines(score, end: float) -> list[float]:
    """Where ``score``'s bars start, in quarter notes up to ``end``: bar by bar through its
    time signatures (4/4 before the first one; a change starts a new bar)."""
    tpq = score.ticks_per_quarter
    changes = sorted((ts.time / tpq, 4 * ts.numerator / ts.denominator) for ts in score.time_signatures)
    if not changes or changes[0][0] > 0:
        changes.insert(0, (0.0, 4.0))
    lines = []
    for i, (start, length) in enumerate(changes):
        last = i + 1 == len(changes)
        stop = end if last else changes[i + 1][0]
        while (start <= stop if last else start < stop) and start <= end:
            lines.append(start)
            start += length
    return lines


__all__ = ["piano_roll_png", "require_matplotlib"]
