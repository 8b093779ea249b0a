"""One vocabulary for what kind of part a track is: ``drums``, ``melody`` or ``polyphonic``.

The word "kind" means this part kind everywhere in cadenza_hf, except the grammar's
:class:`~cadenza_hf.tokenization.grammar.Kind` (the kind of a *token*: Bar, Pitch, ...).
Performers are chosen by their *style* (:mod:`cadenza_hf.pipelines.performers`), not by
a kind.

- ``drums``: a drum track (General MIDI channel 10), notes without durations;
- ``melody``: pitched, one note per onset (a few chords tolerated, see ``chord_share``);
- ``polyphonic``: pitched with chords.

Datasets built before version 0.2 label melodies ``monophonic``; :func:`normalize_kind`
reads both.
"""

from __future__ import annotations

from collections.abc import Sequence

from .grammar import Kind

DRUMS, MELODY, POLYPHONIC = "drums", "melody", "polyphonic"
PART_KINDS = (DRUMS, MELODY, POLYPHONIC)
_ALIASES = {"monophonic": MELODY}


def normalize_kind(kind: str) -> str:
    """``kind`` in the current vocabulary (``monophonic`` -> ``melody``); a ValueError for anything else."""
    kind = _ALIASES.get(kind, kind)
    if kind not in PART_KINDS:
        raise ValueError(f"kind must be one of {', '.join(PART_KINDS)}, got {kind!r}")
    return kind


def part_kind(tokenizer, ids: Sequence[int], is_drum: bool | None = None, chord_share: float = 0.0) -> str:
    """The part kind of token ids: drums, melody or polyphonic.

    Args:
        tokenizer: the :class:`~cadenza_hf.PerTokTokenizer` whose grammar reads the ids.
        ids: PerTok ids (full or composition).
        is_drum: the track's drum flag; None reads it from the tokens (PitchDrum notes).
        chord_share: a pitched part is polyphonic when more than this share of its notes
            share an onset with another note. 0 (any chord, what decoding needs: the melody
            grammar allows no chord) or e.g. 0.1 (dataset labels, tolerant of a stray chord).
    """
    kinds = tokenizer.grammar.kinds
    if is_drum or (is_drum is None and any(kinds[i] == Kind.DRUM for i in ids)):
        return DRUMS
    notes = shared = run = 0
    for i in ids:
        k = kinds[i]
        if k in (Kind.BAR, Kind.SHIFT):
            run = 0
        elif k == Kind.PITCH:
            notes += 1
            run += 1
            shared += (run > 1) + (run == 2)  # the first note of a chord shares its onset too
    return POLYPHONIC if notes and shared / notes > chord_share else MELODY


__all__ = ["DRUMS", "MELODY", "PART_KINDS", "POLYPHONIC", "normalize_kind", "part_kind"]
