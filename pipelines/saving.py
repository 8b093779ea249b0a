"""Saving a pipeline so that it reloads: with the task name, or through remote code.

``Pipeline.save_pretrained`` saves only the model and the tokenizer, and marks the
folder with ``config.custom_pipelines[<registered task>]``, which then makes
``pipeline(<task>, model=folder)`` demand ``trust_remote_code=True`` even where the task
is registered. The cadenza pipelines therefore save themselves (performers included,
see the pipeline classes) and mark the folder under a *different* key,
``cadenza-<task>``, pointing at a three-line module saved next to the weights that
imports the installed ``cadenza_hf``. That gives two ways back:

- ``pipeline("midi-variation", model=folder)``: after ``import cadenza_hf`` (which
  registers the task), no ``trust_remote_code``; the task name is given, as for any
  local folder offline (transformers infers a task only from ``custom_pipelines`` or
  from the Hub);
- ``pipeline(model=folder, trust_remote_code=True)``: the task is read from
  ``config.json``; the saved module only imports ``cadenza_hf`` (which must be
  installed) and hands back its class.
"""

from __future__ import annotations

import os

CODE_MODULE = "cadenza_pipeline"
_MODEL_CLASSES = {"cadenza_composer": "CadenzaComposerModel", "cadenza_performer": "CadenzaPerformerForMaskedLM"}
_CODE = '''"""Remote-code entry point of a saved cadenza_hf pipeline: needs `pip install cadenza_hf`."""

import cadenza_hf  # noqa: F401  (registers the models, the tokenizer and the pipeline tasks)
from cadenza_hf import (  # noqa: F401
    CadenzaComposerConfig,
    CadenzaComposerModel,
    CadenzaPerformerConfig,
    CadenzaPerformerForMaskedLM,
    PerTokTokenizer,
)
from cadenza_hf.pipelines import MidiPerformancePipeline, MidiVariationPipeline  # noqa: F401
'''


def saved_task_key(task: str) -> str:
    """The ``custom_pipelines`` key a pipeline of ``task`` is saved under."""
    return f"cadenza-{task}"


def mark_pipeline(config, task: str, class_name: str, auto_class: str) -> None:
    """Record the pipeline in ``config.custom_pipelines`` and ``config.auto_map`` (remote-code reload).

    The ``auto_map`` entries point the config, the model and the tokenizer at the saved
    module too, so that a process that never imported ``cadenza_hf`` resolves them
    (importing the module imports and registers ``cadenza_hf``). A process that did
    import it keeps using the registered classes.
    """
    config.custom_pipelines = {
        saved_task_key(task): {"impl": f"{CODE_MODULE}.{class_name}", "pt": [auto_class], "type": "multimodal"}
    }
    model_class = _MODEL_CLASSES[config.model_type]
    config.auto_map = {
        "AutoConfig": f"{CODE_MODULE}.{type(config).__name__}",
        auto_class: f"{CODE_MODULE}.{model_class}",
        "AutoTokenizer": [f"{CODE_MODULE}.PerTokTokenizer", None],
    }


def write_pipeline_code(save_directory) -> str:
    """Write the remote-code module into ``save_directory``; return its path."""
    path = os.path.join(save_directory, f"{CODE_MODULE}.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(_CODE)
    return path


__all__ = ["CODE_MODULE", "mark_pipeline", "saved_task_key", "write_pipeline_code"]
