"""Loading performers and routing each track to the right one.

A performer is trained either on drums (Groove MIDI Dataset) or on pitched tracks
(POP909), and the two learn different things: a drum performer's microtiming is a
drummer's feel, a piano performer's velocities follow voicing. A pipeline may hold one
performer of each kind and picks one per excerpt from the excerpt's drum flag.

A performer's kind is read, in order, from:

1. ``config.performer_kind`` (``"drums"``, ``"pitched"`` or ``"any"``), written by
   the project's packaging script (``package_checkpoints.py`` in the repository) and by the pipelines' ``save_pretrained``;
2. the ``training_record.json`` next to its weights (a training run's output folder):
   ``data.kinds`` or ``data.collections`` (``groove`` is drums, ``pop909`` and ``asap`` pitched);
3. otherwise ``"any"``: used for whatever no performer of the right kind covers.

Performers can also be named explicitly: ``performer={"drums": p1, "pitched": p2}``.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from pathlib import Path

from transformers import AutoModelForMaskedLM, PreTrainedModel

from ..hub.legacy import convert_legacy_checkpoint, is_legacy_checkpoint

logger = logging.getLogger(__name__)

PERFORMER_KINDS = ("drums", "pitched", "any")
KIND_ATTRIBUTE = "performer_kind"
# On a saved pipeline's composer config: {kind: subfolder} of the performers saved with it.
SUBFOLDERS_ATTRIBUTE = "cadenza_performers"
_DRUM_COLLECTIONS = {"groove"}
_PITCHED_COLLECTIONS = {"pop909", "asap"}


def performer_kind(model: PreTrainedModel) -> str:
    """The kind of tracks ``model`` was trained on: ``"drums"``, ``"pitched"`` or ``"any"``."""
    kind = getattr(model.config, KIND_ATTRIBUTE, None)
    if kind in PERFORMER_KINDS:
        return kind
    return _kind_from_training_record(getattr(model, "name_or_path", None)) or "any"


def _kind_from_training_record(path) -> str | None:
    if not path or not (Path(path) / "training_record.json").is_file():
        return None
    try:
        data = json.loads((Path(path) / "training_record.json").read_text()).get("data", {})
    except (OSError, ValueError):
        return None
    kinds = set(data.get("kinds") or [])
    if kinds:
        return "drums" if kinds == {"drums"} else "pitched" if "drums" not in kinds else None
    collections = set(data.get("collections") or [])
    if collections and collections <= _DRUM_COLLECTIONS:
        return "drums"
    if collections and collections <= _PITCHED_COLLECTIONS:
        return "pitched"
    return None


def load_performer(spec, **from_pretrained_kwargs) -> PreTrainedModel:
    """A performer from a model object, a local folder or a Hub id."""
    if isinstance(spec, PreTrainedModel):
        return spec
    if not isinstance(spec, (str, Path)):
        raise TypeError(f"a performer must be a model, a folder or a Hub id, got {type(spec).__name__}")
    if not Path(spec).exists() and not _HUB_ID.match(str(spec)):
        raise ValueError(f"performer folder {spec} does not exist")
    if Path(spec).is_dir() and is_legacy_checkpoint(spec):  # saved by cadenza_hf 0.1: convert a copy
        with tempfile.TemporaryDirectory() as tmp:
            model = AutoModelForMaskedLM.from_pretrained(
                str(convert_legacy_checkpoint(spec, tmp)), **from_pretrained_kwargs
            )
        model.name_or_path = model.config._name_or_path = str(spec)
        return model
    return AutoModelForMaskedLM.from_pretrained(str(spec), **from_pretrained_kwargs)


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")  # "name" or "org/name"


def resolve_performers(performer, **from_pretrained_kwargs) -> dict[str, PreTrainedModel]:
    """Turn the ``performer=`` argument into ``{kind: model}``.

    Accepts one performer (model, folder or Hub id), a list of them (each routed by
    :func:`performer_kind`), or a dict ``{"drums": ..., "pitched": ..., "any": ...}``.
    """
    if performer is None:
        return {}
    if isinstance(performer, dict):
        out = {}
        for kind, spec in performer.items():
            if kind not in PERFORMER_KINDS:
                raise ValueError(f"performer kinds are {', '.join(PERFORMER_KINDS)}; got {kind!r}")
            out[kind] = load_performer(spec, **from_pretrained_kwargs)
        return out
    specs = list(performer) if isinstance(performer, (list, tuple)) else [performer]
    out: dict[str, PreTrainedModel] = {}
    for spec in specs:
        model = load_performer(spec, **from_pretrained_kwargs)
        kind = performer_kind(model)
        if kind in out:
            raise ValueError(
                f'two performers of kind {kind!r}; say which is which with performer={{"drums": ..., "pitched": ...}}'
            )
        out[kind] = model
    return out


def select_performer(performers: dict[str, PreTrainedModel], drums: bool) -> PreTrainedModel:
    """The performer for a drum track (``drums=True``) or a pitched one.

    Falls back to an ``"any"`` performer, then to the only performer there is (with a
    warning, since it was trained on the other kind of track).
    """
    want = "drums" if drums else "pitched"
    if want in performers:
        return performers[want]
    if "any" in performers:
        return performers["any"]
    if len(performers) == 1:
        ((kind, model),) = performers.items()
        logger.warning("no %s performer: using the %s performer for a %s track", want, kind, want)
        return model
    raise ValueError(f"no performer for {want} tracks (have: {', '.join(performers) or 'none'})")


def check_performer(performer: PreTrainedModel, tokenizer) -> None:
    """Raise ValueError if ``performer`` was not trained with ``tokenizer``'s vocabulary."""
    config = performer.config
    same = (
        config.vocab_size == tokenizer.vocab_size
        and list(config.velocity_token_ids) == tokenizer.velocity_ids
        and list(config.microtiming_token_ids) == tokenizer.microtiming_ids
    )
    if not same:
        raise ValueError(
            f"the performer {getattr(performer, 'name_or_path', '') or ''} was trained with another tokenizer "
            f"(vocabulary {config.vocab_size} vs {tokenizer.vocab_size} tokens, or other performance tokens)"
        )


__all__ = [
    "KIND_ATTRIBUTE",
    "PERFORMER_KINDS",
    "SUBFOLDERS_ATTRIBUTE",
    "check_performer",
    "load_performer",
    "performer_kind",
    "resolve_performers",
    "select_performer",
]
