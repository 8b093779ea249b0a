"""Inference pipelines of cadenza_hf (installed as ``cadenza_hf.pipelines``).

``import cadenza_hf`` registers two tasks with transformers' ``PIPELINE_REGISTRY``:

- ``"midi-variation"`` (:class:`MidiVariationPipeline`): composer then performer:
  variations of an idea, new ideas (``kind`` drums/melody/polyphonic), interpolations;
- ``"midi-performance"`` (:class:`MidiPerformancePipeline`): performer alone, humanising
  a quantized excerpt.

Without a ``model``, both use the checkpoints shipped in ``cadenza_hf/checkpoints``
(:mod:`cadenza_hf.defaults`). Saved pipelines reload with ``pipeline(<task>,
model=folder)``, or ``pipeline(model=folder, trust_remote_code=True)`` (see
:mod:`cadenza_hf.pipelines.saving`).
"""

from __future__ import annotations

from .midi_inputs import KINDS
from .midi_performance import PERFORMANCE_TASK, MidiPerformancePipeline
from .midi_variation import VARIATION_TASK, MidiVariationPipeline
from .performers import performer_kind


def register_pipelines() -> None:
    """Register the two tasks (again, e.g. after changing ``CADENZA_CHECKPOINTS``).

    The task defaults are the shipped composer and pitched performer, as folders of
    ``cadenza_hf.defaults.checkpoints_root()`` at the time of this call.
    """
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM
    from transformers.pipelines import PIPELINE_REGISTRY

    from ..hub import defaults

    tasks = (
        (VARIATION_TASK, MidiVariationPipeline, AutoModelForCausalLM, defaults.COMPOSER),
        (PERFORMANCE_TASK, MidiPerformancePipeline, AutoModelForMaskedLM, defaults.PERFORMER_PITCHED),
    )
    for task, cls, auto_class, checkpoint in tasks:
        PIPELINE_REGISTRY.supported_tasks.pop(task, None)  # re-registration is silent
        PIPELINE_REGISTRY.register_pipeline(
            task,
            pipeline_class=cls,
            pt_model=auto_class,
            type="multimodal",
            default={"model": (str(defaults.checkpoint_path(checkpoint)), None)},
        )


__all__ = [
    "KINDS",
    "PERFORMANCE_TASK",
    "VARIATION_TASK",
    "MidiPerformancePipeline",
    "MidiVariationPipeline",
    "performer_kind",
    "register_pipelines",
]
