"""cadenza_hf: PerTok and the Cadenza composer/performer, the Hugging Face way.

The package is layered (see ``docs/architecture.md``)::

    utils  <-  tokenization  <-  generation  <-  pipelines  <-  cli, app
                modeling (torch + transformers only)
                hub (checkpoints, sampling defaults, cards, Hub uploads)
                data, training, evaluation (research tooling, never needed by inference)

``import cadenza_hf`` is lazy: it imports neither torch nor transformers. The names below
load their sub-package on first use, and the classes are registered with transformers'
``Auto*`` factories and pipeline registry as soon as transformers loads the matching
module (:mod:`cadenza_hf.registration`), so ``AutoModel.from_pretrained(folder)`` and
``pipeline("midi-variation")`` work after ``import cadenza_hf`` with no
``trust_remote_code``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .registration import install as _install_registration
from .registration import register
from .version import __version__

# public name -> module that defines it
_LAZY = {
    "CadenzaComposerConfig": "cadenza_hf.modeling.composer",
    "CadenzaComposerModel": "cadenza_hf.modeling.composer",
    "CadenzaPerformerConfig": "cadenza_hf.modeling.performer",
    "CadenzaPerformerForMaskedLM": "cadenza_hf.modeling.performer",
    "CadenzaPerformerModel": "cadenza_hf.modeling.performer",
    "Excerpt": "cadenza_hf.tokenization.excerpt",
    "ExcerptMeta": "cadenza_hf.tokenization.excerpt",
    "MidiInputError": "cadenza_hf.tokenization.midi_io",
    "PerTokTokenizer": "cadenza_hf.tokenization.tokenization_pertok",
    "read_midi": "cadenza_hf.tokenization.midi_io",
    "MidiVariationPipeline": "cadenza_hf.pipelines",
    "MidiPerformancePipeline": "cadenza_hf.pipelines",
}
_SUBMODULES = {"examples": "cadenza_hf.examples", "defaults": "cadenza_hf.hub.defaults"}

if TYPE_CHECKING:  # for type checkers and IDEs; at run time these load lazily
    # ruff: noqa: F401
    from . import examples
    from .modeling.composer import CadenzaComposerConfig, CadenzaComposerModel
    from .modeling.performer import CadenzaPerformerConfig, CadenzaPerformerForMaskedLM, CadenzaPerformerModel
    from .pipelines import MidiPerformancePipeline, MidiVariationPipeline
    from .tokenization.excerpt import Excerpt, ExcerptMeta
    from .tokenization.midi_io import MidiInputError, read_midi
    from .tokenization.tokenization_pertok import PerTokTokenizer


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(_SUBMODULES[name])
    else:
        raise AttributeError(f"module 'cadenza_hf' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))


_install_registration()

__all__ = [*sorted(_LAZY), *sorted(_SUBMODULES), "register", "__version__"]
