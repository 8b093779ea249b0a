"""Tiny random-weight composer and performers laid out like the shipped checkpoints."""

from __future__ import annotations

from pathlib import Path

TINY = {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64}


def tiny_composer(tok, seed: int = 0, idea_attention: bool = False):
    import torch

    from cadenza_hf import CadenzaComposerConfig, CadenzaComposerModel

    torch.manual_seed(seed)
    config = CadenzaComposerConfig(
        vocab_size=tok.vocab_size,
        num_encoder_layers=1,
        num_decoder_layers=1,
        latent_size=8,
        max_position_embeddings=800,
        idea_attention=idea_attention,
        **TINY,
    )
    return CadenzaComposerModel(config).eval()


def tiny_performer(tok, kind: str | None = None, seed: int = 0, **config_fields):
    import torch

    from cadenza_hf import CadenzaPerformerConfig, CadenzaPerformerForMaskedLM

    torch.manual_seed(seed)
    config = CadenzaPerformerConfig(
        vocab_size=tok.vocab_size,
        num_hidden_layers=1,
        velocity_token_ids=tok.velocity_ids,
        microtiming_token_ids=tok.microtiming_ids,
        **{**TINY, **config_fields},
    )
    if kind is not None:
        config.performer_kind = kind
    return CadenzaPerformerForMaskedLM(config).eval()


def save_tiny_checkpoints(root, tok) -> Path:
    """``root/{composer,performer-drums,performer-pitched,performer-classical}``, each with the tokenizer, like
    the package."""
    root = Path(root)
    models = {
        "composer": tiny_composer(tok),
        "performer-drums": tiny_performer(tok, "drums", seed=1, performer_style="drums"),
        "performer-pitched": tiny_performer(tok, "pitched", seed=2, performer_style="pop"),
        "performer-classical": tiny_performer(tok, "pitched", seed=3, performer_style="classical"),
    }
    for name, model in models.items():
        model.save_pretrained(root / name)
        tok.save_pretrained(root / name)
    return root
