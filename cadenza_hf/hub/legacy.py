"""Checkpoints saved by cadenza_hf 0.1: performers whose parameters had other names.

Before issue 13 the performer fused its attention projections (`attention.qkv_proj`) and named its MLP
`fc1`/`fc2` and its dropouts `hidden_dropout_prob`/`attention_probs_dropout_prob`. The renaming of a state
dict is model code (`modeling.performer.convert_legacy_state_dict`, torch only); rewriting files lives here,
with the other code that moves checkpoints around. The model class itself refuses such a folder with a
pointer to `convert_legacy_checkpoint`, so nobody gets a half-initialised model by accident, while
`load_performer` (pipelines, command line) converts a local legacy folder on the fly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

_OLD_CONFIG_NAMES = {"hidden_dropout_prob": "hidden_dropout", "attention_probs_dropout_prob": "attention_dropout"}


def is_legacy_checkpoint(folder) -> bool:
    """Whether local `folder` holds a performer `model.safetensors` with the parameter names of 0.1."""
    weights = Path(folder) / "model.safetensors"
    if not weights.is_file():
        return False
    from safetensors import safe_open

    from cadenza_hf.modeling.performer.modeling_performer import is_legacy_state_dict

    with safe_open(str(weights), framework="pt") as handle:
        return is_legacy_state_dict(list(handle.keys()))


def convert_legacy_checkpoint(folder, output_dir=None) -> Path:
    """Rewrite a saved performer's `model.safetensors` and `config.json` in today's names.

    In place by default; with `output_dir` the folder's other files are copied there too. Returns the folder
    written. Raises ValueError if `folder` has no single-file safetensors checkpoint.
    """
    from safetensors.torch import load_file, save_file

    from cadenza_hf.modeling.performer.modeling_performer import convert_legacy_state_dict

    folder = Path(folder)
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise ValueError(f"{folder}: no model.safetensors to convert")
    target = Path(output_dir) if output_dir is not None else folder
    target.mkdir(parents=True, exist_ok=True)
    if target != folder:
        for extra in folder.iterdir():
            if extra.is_file() and extra.name != "model.safetensors":
                shutil.copy2(extra, target / extra.name)
    converted = convert_legacy_state_dict(load_file(str(weights)))
    save_file(converted, str(target / "model.safetensors"), metadata={"format": "pt"})
    config_file = folder / "config.json"
    if config_file.is_file():
        config = json.loads(config_file.read_text())
        for old, new in _OLD_CONFIG_NAMES.items():
            if old in config:
                config[new] = config.pop(old)
        (target / "config.json").write_text(json.dumps(dict(sorted(config.items())), indent=2) + "\n")
    return target
