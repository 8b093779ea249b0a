"""The Cadenza composer: a transformer VAE over PerTok MIDI tokens (paper §3.1)."""

from .configuration_composer import CadenzaComposerConfig
from .modeling_composer import (
    CadenzaComposerModel,
    CadenzaComposerPreTrainedModel,
    ComposerOutput,
    LatentDistribution,
)


__all__ = [
    "CadenzaComposerConfig",
    "CadenzaComposerModel",
    "CadenzaComposerPreTrainedModel",
    "ComposerOutput",
    "LatentDistribution",
]
