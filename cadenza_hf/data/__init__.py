"""Datasets of bar-aligned single-track excerpts, and collators for training.

``build_dataset`` turns MIDI folders (POP909, the Groove MIDI Dataset, plain MIDI, or the
music21 corpus) into a ``datasets.DatasetDict``; ``build_streaming`` gives the same rows
as an ``IterableDatasetDict``. See :mod:`cadenza_hf.data.build`.
"""

from .build import BuildOptions, BuildSummary, build_dataset, build_streaming, excerpt_kind
from .collators import ComposerCollator, DenoisingComposerCollator, PerformerCollator
from .sources import SourceFile, discover, load_source, split_of

__all__ = [
    "BuildOptions",
    "BuildSummary",
    "ComposerCollator",
    "DenoisingComposerCollator",
    "PerformerCollator",
    "SourceFile",
    "build_dataset",
    "build_streaming",
    "discover",
    "excerpt_kind",
    "load_source",
    "split_of",
]
