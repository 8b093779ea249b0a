"""The Cadenza composer: a transformer VAE over PerTok MIDI tokens (paper §3.1).

Names load on first use (transformers' lazy-module pattern), so importing the
configuration alone, as registration does, does not import the model code.
"""

import importlib
from typing import TYPE_CHECKING

_LAZY = {
    "CadenzaComposerConfig": "configuration_composer",
    "CadenzaComposerModel": "modeling_composer",
    "CadenzaComposerPreTrainedModel": "modeling_composer",
    "ComposerOutput": "modeling_composer",
    "LatentDistribution": "modeling_composer",
}

if TYPE_CHECKING:
    from .configuration_composer import CadenzaComposerConfig
    from .modeling_composer import (
        CadenzaComposerModel,
        CadenzaComposerPreTrainedModel,
        ComposerOutput,
        LatentDistribution,
    )


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "CadenzaComposerConfig",
    "CadenzaComposerModel",
    "CadenzaComposerPreTrainedModel",
    "ComposerOutput",
    "LatentDistribution",
]
