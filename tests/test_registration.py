"""`import cadenza_hf` registers everything with the Auto factories, idempotently."""

from __future__ import annotations

import subprocess
import sys

import cadenza_hf


def test_register_is_idempotent():
    cadenza_hf.register()
    cadenza_hf.registration._DONE = False
    cadenza_hf.register()  # exist_ok everywhere: no error on a second registration


def test_fresh_process_loads_saved_tokenizer_and_models(tmp_path):
    from cadenza_hf import CadenzaComposerConfig, CadenzaComposerModel, CadenzaPerformerConfig
    from cadenza_hf import CadenzaPerformerForMaskedLM, PerTokTokenizer

    tok = PerTokTokenizer()
    tiny = dict(vocab_size=tok.vocab_size, hidden_size=32, num_attention_heads=2, intermediate_size=64)
    CadenzaComposerModel(
        CadenzaComposerConfig(num_encoder_layers=1, num_decoder_layers=1, latent_size=8, **tiny)
    ).save_pretrained(tmp_path / "composer")
    CadenzaPerformerForMaskedLM(CadenzaPerformerConfig(num_hidden_layers=1, **tiny)).save_pretrained(
        tmp_path / "performer"
    )
    for sub in ("composer", "performer", "tok"):
        tok.save_pretrained(tmp_path / sub)
    ids = tok.encode_midi(cadenza_hf.examples.example_idea())
    code = f"""
import cadenza_hf
from transformers import AutoTokenizer, AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM
root = {str(tmp_path)!r}
tok = AutoTokenizer.from_pretrained(root + "/tok")
print(type(tok).__name__, tok.encode_midi(cadenza_hf.examples.example_idea()) == {ids!r})
print(type(AutoModelForCausalLM.from_pretrained(root + "/composer")).__name__)
print(type(AutoModel.from_pretrained(root + "/performer")).__name__)
print(type(AutoModelForMaskedLM.from_pretrained(root + "/performer")).__name__)
print(type(AutoTokenizer.from_pretrained(root + "/composer")).__name__)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [
        "PerTokTokenizer",
        "True",
        "CadenzaComposerModel",
        "CadenzaPerformerModel",
        "CadenzaPerformerForMaskedLM",
        "PerTokTokenizer",
    ]
