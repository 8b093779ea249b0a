"""Cadenza performer: a BERT-like encoder that fills masked velocity / microtiming slots (paper §3.2)."""

from .configuration_performer import PERFORMER_PRESETS, CadenzaPerformerConfig
from .modeling_performer import (
    POINT_ESTIMATES,
    CadenzaPerformerForMaskedLM,
    CadenzaPerformerModel,
    CadenzaPerformerPreTrainedModel,
    sinusoidal_position_table,
)


__all__ = [
    "PERFORMER_PRESETS",
    "POINT_ESTIMATES",
    "CadenzaPerformerConfig",
    "CadenzaPerformerForMaskedLM",
    "CadenzaPerformerModel",
    "CadenzaPerformerPreTrainedModel",
    "sinusoidal_position_table",
]
