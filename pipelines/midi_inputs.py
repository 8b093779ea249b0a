"""What the pipelines accept: MIDI inputs cut to excerpts, track kinds, and blank metas.

Track kinds:

- ``"drums"``: drum notes (PitchDrum tokens, no durations), decoded to a drum track;
- ``"melody"``: pitched, at most one note per onset;
- ``"polyphonic"``: pitched, chords allowed.

The composer has no kind conditioning (it was trained on all three). A kind is imposed
at decoding time by :class:`~cadenza_hf.generation.PerTokGrammarLogitsProcessor`: the
drum grammar for drums, one note per onset for melodies, the plain pitched grammar for
polyphonic tracks. Variations keep the kind of their input unless ``kind`` says
otherwise (a pitched input may be varied as a melody or polyphonically; drums stay drums).
"""

from __future__ import annotations

from ..tokenization.excerpt import Excerpt, ExcerptMeta
from ..tokenization.kinds import PART_KINDS, normalize_kind, part_kind

KINDS = PART_KINDS


def check_kind(kind: str | None) -> str | None:
    """Return ``kind`` if it is one of :data:`KINDS` (or None); raise ValueError otherwise."""
    return None if kind is None else normalize_kind(kind)


TOKENS_PER_BAR = 32  # room a composed bar needs: a 16th-note melody bar is 16 notes of 2 tokens


def load_excerpt(tokenizer, midi, track=None, start_bar: int | None = None, bars: int = 4, meter=None) -> Excerpt:
    """An :class:`Excerpt` from a path, MIDI bytes, a ``symusic.Score`` or an Excerpt.

    ``start_bar`` None: the first window holding notes; ``meter`` (e.g. ``(4, 4)``)
    replaces the file's time signatures. Raises :class:`~cadenza_hf.MidiInputError` for
    anything the tokenizer refuses.
    """
    if isinstance(midi, Excerpt):
        return midi
    return tokenizer.extract_excerpt(midi, track, start_bar, bars, meter=meter)


def max_bars(model) -> int | None:
    """The most bars one composition may have: the model's positions over TOKENS_PER_BAR."""
    positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return None if not positions else max(1, positions // TOKENS_PER_BAR)


def check_bars(model, bars: int, ids=None) -> None:
    """Refuse, before any composing, a window longer than the composer can write."""
    limit = max_bars(model)
    if limit is not None and bars > limit:
        raise ValueError(
            f"bars={bars} is over the composer's limit of {limit} bars "
            f"({model.config.max_position_embeddings} positions, {TOKENS_PER_BAR} per bar): vary a shorter window"
        )
    positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if positions and ids is not None and len(ids) + 2 > positions:
        raise ValueError(
            f"the idea takes {len(ids)} tokens, over the composer's {positions} positions: vary fewer bars"
        )


def excerpt_kind(tokenizer, ids, is_drum: bool) -> str:
    """``"drums"``, ``"melody"`` (one note per onset) or ``"polyphonic"`` (any chord): how the ids are decoded."""
    return part_kind(tokenizer, ids, is_drum)


def variation_kind(input_kind: str, requested: str | None) -> str:
    """The kind variations are decoded as: the input's, or a compatible requested one."""
    if requested is None or requested == input_kind:
        return input_kind
    if "drums" in (input_kind, requested):
        raise ValueError(f"a {input_kind} input cannot be varied as {requested}")
    return requested


def blank_meta(tokenizer, kind: str, bars: int, time_signature=(4, 4), qpm: float = 120.0) -> ExcerptMeta:
    """The meta of a new idea (unconditional generation): meter, tempo, drum flag."""
    num, den = time_signature
    return ExcerptMeta(
        ticks_per_quarter=tokenizer.ticks_per_quarter,
        time_signature=(int(num), int(den)),
        tempos=[(0, float(qpm))],
        program=0,
        is_drum=kind == "drums",
        track_name=kind.capitalize(),
        bars=bars,
        source=f"<new {kind} idea>",
    )


__all__ = [
    "KINDS",
    "TOKENS_PER_BAR",
    "blank_meta",
    "check_bars",
    "check_kind",
    "excerpt_kind",
    "load_excerpt",
    "max_bars",
    "variation_kind",
]
