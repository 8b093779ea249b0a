"""Registration of cadenza_hf classes with transformers, without importing torch early.

``import cadenza_hf`` must stay cheap (no torch, no transformers modeling stack), yet
``AutoModel.from_pretrained(folder)`` and ``pipeline("midi-variation")`` must find our
classes afterwards without ``trust_remote_code``. Python has no public post-import hook,
so :func:`install` puts a small finder on ``sys.meta_path`` that runs one registration
step right after transformers finishes importing the module that step feeds:

=============================================  =======================================
transformers module                            what is registered (public APIs only)
=============================================  =======================================
``models.auto.configuration_auto``             ``AutoConfig.register`` (both configs)
``models.auto.tokenization_auto``              ``AutoTokenizer.register`` (PerTok)
``models.auto.modeling_auto``                  ``AutoModel*.register`` (both models)
``pipelines``                                  ``PIPELINE_REGISTRY.register_pipeline``
=============================================  =======================================

A step runs once its module is imported and no import of transformers or cadenza_hf is
half-done (the outermost import finishes last and runs it).

A module that is already imported when :func:`install` runs gets its step at once, so
the order of ``import transformers ...`` and ``import cadenza_hf`` does not matter.
:func:`register` does every step eagerly (idempotent, ``exist_ok=True`` everywhere).
"""

from __future__ import annotations

import importlib.abc
import sys
import warnings
from collections.abc import Callable


def register_configs() -> None:
    from transformers import AutoConfig

    from .modeling.composer.configuration_composer import CadenzaComposerConfig
    from .modeling.performer.configuration_performer import CadenzaPerformerConfig

    for config in (CadenzaComposerConfig, CadenzaPerformerConfig):
        AutoConfig.register(config.model_type, config, exist_ok=True)


def register_tokenizer() -> None:
    from transformers import AutoTokenizer

    from .modeling.composer.configuration_composer import CadenzaComposerConfig
    from .modeling.performer.configuration_performer import CadenzaPerformerConfig
    from .tokenization.tokenization_pertok import PerTokTokenizer

    # AutoTokenizer.register also makes the class findable by its name, which a
    # tokenizer folder saved without a model config (no config.json) needs.
    for config in (CadenzaComposerConfig, CadenzaPerformerConfig):
        AutoTokenizer.register(config, tokenizer_class=PerTokTokenizer, exist_ok=True)


def register_models() -> None:
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM

    from .modeling.composer import CadenzaComposerConfig, CadenzaComposerModel
    from .modeling.performer import CadenzaPerformerConfig, CadenzaPerformerForMaskedLM, CadenzaPerformerModel

    AutoModel.register(CadenzaComposerConfig, CadenzaComposerModel, exist_ok=True)
    AutoModelForCausalLM.register(CadenzaComposerConfig, CadenzaComposerModel, exist_ok=True)
    AutoModel.register(CadenzaPerformerConfig, CadenzaPerformerModel, exist_ok=True)
    AutoModelForMaskedLM.register(CadenzaPerformerConfig, CadenzaPerformerForMaskedLM, exist_ok=True)


def register_pipeline_tasks() -> None:
    from .pipelines import register_pipelines

    register_pipelines()  # "midi-variation" and "midi-performance"


# step -> the transformers modules that must be fully imported before it can run
STEPS: dict[Callable[[], None], tuple[str, ...]] = {
    register_configs: ("transformers.models.auto.configuration_auto",),
    register_tokenizer: ("transformers.models.auto.tokenization_auto",),
    register_models: ("transformers.models.auto.modeling_auto",),
    register_pipeline_tasks: ("transformers.pipelines",),
}
# Steps wait until no module of these packages is half-imported (ours included: a step
# imports our model code, which a user's import may be executing at that moment).
WATCHED = ("transformers", "cadenza_hf")
_done: set[Callable[[], None]] = set()


def _initializing(name: str, just_finished: str | None) -> bool:
    spec = getattr(sys.modules.get(name), "__spec__", None)
    return name != just_finished and bool(getattr(spec, "_initializing", False))


def _run_ready(just_finished: str | None = None) -> None:
    """Run every pending step whose transformers modules are imported, once no watched import is half-done.

    Our model code imports many transformers modules; running it while one of them (or
    one of ours) is still executing, an outer import further up the stack, would see
    half-defined names. The outermost import finishes last and runs the steps then.
    """
    if any(_initializing(name, just_finished) for name in list(sys.modules) if name.startswith(WATCHED)):
        return
    for step, needs in STEPS.items():
        if step not in _done and all(name in sys.modules for name in needs):
            _done.add(step)
            try:
                step()
            except Exception as err:  # never break the caller's import of transformers
                warnings.warn(f"cadenza_hf could not register {step.__name__}: {err!r}", stacklevel=2)


def register() -> None:
    """Register the tokenizer, configs, models and pipelines with transformers now."""
    for step in STEPS:
        if step not in _done:
            _done.add(step)
            step()


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader of each watched module to run ready steps after it."""

    def find_spec(self, fullname, path, target=None):
        if not fullname.startswith(WATCHED) or all(step in _done for step in STEPS):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module, _original=original, _name=fullname):
            _original(module)
            _run_ready(_name)

        loader.exec_module = exec_module  # a per-module loader instance: nothing shared is patched
        return spec


_FINDER = _AfterImport()


def install() -> None:
    """Run the steps whose transformers modules are loaded; watch for the others (idempotent).

    Called last in ``cadenza_hf/__init__.py``: the package itself is still importing then,
    but everything a step needs from it is defined.
    """
    _run_ready(just_finished="cadenza_hf")
    if all(step in _done for step in STEPS):
        return
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


__all__ = ["STEPS", "install", "register"]
