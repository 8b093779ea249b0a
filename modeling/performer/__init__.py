"""Cadenza performer: a BERT-like encoder that fills masked velocity / microtiming slots (paper §3.2).

Names load on first use (transformers' lazy-module pattern), so importing the
configuration alone, as registration does, does not import the model code.
"""

import importlib
from typing import TYPE_CHECKING

_LAZY = {
    "PERFORMER_PRESETS": "configuration_performer",
    "CadenzaPerformerConfig": "configuration_performer",
    "POINT_ESTIMATES": "modeling_performer",
    "UNMASK_ORDERS": "configuration_performer",
    "UNMASK_SCHEDULES": "configuration_performer",
    "convert_legacy_state_dict": "modeling_performer",
    "CadenzaPerformerForMaskedLM": "modeling_performer",
    "CadenzaPerformerModel": "modeling_performer",
    "CadenzaPerformerPreTrainedModel": "modeling_performer",
    "sinusoidal_position_table": "modeling_performer",
}

if TYPE_CHECKING:
    from .configuration_performer import PERFORMER_PRESETS, UNMASK_ORDERS, UNMASK_SCHEDULES, CadenzaPerformerConfig
    from .modeling_performer import (
        POINT_ESTIMATES,
        CadenzaPerformerForMaskedLM,
        CadenzaPerformerModel,
        CadenzaPerformerPreTrainedModel,
        convert_legacy_state_dict,
        sinusoidal_position_table,
    )


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "CadenzaPerformerConfig",
    "CadenzaPerformerForMaskedLM",
    "CadenzaPerformerModel",
    "CadenzaPerformerPreTrainedModel",
    "PERFORMER_PRESETS",
    "POINT_ESTIMATES",
    "UNMASK_ORDERS",
    "UNMASK_SCHEDULES",
    "convert_legacy_state_dict",
    "sinusoidal_position_table",
]
