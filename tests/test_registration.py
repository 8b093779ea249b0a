"""`import cadenza_hf` registers everything with the Auto factories, idempotently."""

from __future__ import annotations

import subprocess
import sys

import cadenza_hf


def test_register_is_idempotent():
    cadenza_hf.register()
    for step in cadenza_hf.registration.STEPS:
        step()  # exist_ok everywhere: no error on a second registration


def _fresh(code: str) -> list[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def test_import_is_lazy_and_registers_when_transformers_loads():
    # no torch on import; the tasks exist as soon as transformers' pipelines are imported,
    # in either order of the two imports
    assert _fresh("import sys, cadenza_hf; print('torch' in sys.modules, 'transformers' in sys.modules)") == [
        "False",
        "False",
    ]
    check = (
        "from transformers.pipelines import PIPELINE_REGISTRY; "
        "from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING as M; "
        "print('midi-variation' in PIPELINE_REGISTRY.get_supported_tasks(), "
        "any(c.__name__ == 'CadenzaPerformerConfig' for c in M._extra_content))"
    )
    assert _fresh("import cadenza_hf; " + check) == ["True", "True"]
    assert _fresh("from transformers import pipeline; import cadenza_hf; " + check) == ["True", "True"]


def test_fresh_process_loads_saved_tokenizer_and_models(tmp_path):
    from cadenza_hf import (
        CadenzaComposerConfig,
        CadenzaComposerModel,
        CadenzaPerformerConfig,
        CadenzaPerformerForMaskedLM,
        PerTokTokenizer,
    )

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
