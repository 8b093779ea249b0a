"""Registration of cadenza_hf classes with the transformers Auto* factories.

``register()`` runs on ``import cadenza_hf`` and is idempotent (``exist_ok=True``
everywhere), so importing twice or calling it again is harmless.
"""

from __future__ import annotations

_DONE = False


def register() -> None:
    """Register the tokenizer, configs, models and pipelines with transformers."""
    global _DONE
    if _DONE:
        return
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer
    from transformers.models.auto.tokenization_auto import REGISTERED_TOKENIZER_CLASSES

    from .modeling.composer import CadenzaComposerConfig, CadenzaComposerModel
    from .modeling.performer import CadenzaPerformerConfig, CadenzaPerformerForMaskedLM, CadenzaPerformerModel
    from .tokenization_pertok import PerTokTokenizer

    # AutoTokenizer resolves ``tokenizer_class`` from tokenizer_config.json through this
    # table; a tokenizer saved without a model config (no config.json) needs it, or
    # transformers falls back to TokenizersBackend with a misleading error.
    REGISTERED_TOKENIZER_CLASSES[PerTokTokenizer.__name__] = PerTokTokenizer
    for config in (CadenzaComposerConfig, CadenzaPerformerConfig):
        AutoConfig.register(config.model_type, config, exist_ok=True)
        AutoTokenizer.register(config, tokenizer_class=PerTokTokenizer, exist_ok=True)
    AutoModel.register(CadenzaComposerConfig, CadenzaComposerModel, exist_ok=True)
    AutoModelForCausalLM.register(CadenzaComposerConfig, CadenzaComposerModel, exist_ok=True)
    AutoModel.register(CadenzaPerformerConfig, CadenzaPerformerModel, exist_ok=True)
    AutoModelForMaskedLM.register(CadenzaPerformerConfig, CadenzaPerformerForMaskedLM, exist_ok=True)

    from .pipelines import register_pipelines

    register_pipelines()  # "midi-variation" and "midi-performance"
    _DONE = True


__all__ = ["register"]
