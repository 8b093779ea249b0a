"""cadenza_hf: PerTok and the Cadenza composer/performer, the Hugging Face way.

Importing the package registers every class with the transformers Auto* factories
(idempotently), so ``AutoTokenizer.from_pretrained(saved_dir)`` works without
``trust_remote_code``.
"""

from . import examples
from .excerpt import Excerpt, ExcerptMeta
from .midi_io import MidiInputError, read_midi
from .modeling.composer import CadenzaComposerConfig, CadenzaComposerModel
from .modeling.performer import CadenzaPerformerConfig, CadenzaPerformerForMaskedLM, CadenzaPerformerModel
from .registration import register
from .tokenization_pertok import PerTokTokenizer

__version__ = "0.1.0"

register()

__all__ = [
    "CadenzaComposerConfig",
    "CadenzaComposerModel",
    "CadenzaPerformerConfig",
    "CadenzaPerformerForMaskedLM",
    "CadenzaPerformerModel",
    "Excerpt",
    "examples",
    "ExcerptMeta",
    "MidiInputError",
    "PerTokTokenizer",
    "read_midi",
    "register",
]
