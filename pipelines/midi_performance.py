"""``pipeline("midi-performance")``: humanise a quantized MIDI excerpt with a performer alone.

The performer reads the excerpt's score (pitch, grid position, duration, bars) and
predicts every velocity and microtiming (paper §3.2); the score itself is kept.
"""

from __future__ import annotations

from ..hub import defaults
from ..modeling.performer import POINT_ESTIMATES
from .base import (
    DEFAULT_PERFORMANCE_TEMPERATURE,
    DEFAULT_PERFORMANCE_TOP_P,
    DEFAULT_POINT_ESTIMATE,
    CadenzaPipeline,
)
from .midi_inputs import excerpt_kind, load_excerpt
from .performers import load_performer, performer_kind, resolve_performers
from .results import build_result

PERFORMANCE_TASK = "midi-performance"


class MidiPerformancePipeline(CadenzaPipeline):
    """Performer pipeline: velocity and microtiming for a quantized excerpt.

    Build it with ``pipeline("midi-performance", model=..., performer=...)``:

    - ``model``: a performer folder, Hub id or ``CadenzaPerformerForMaskedLM``; left out,
      the pitched performer shipped in ``cadenza_hf/checkpoints/performer-pitched``
      (with the shipped drum performer added for drum tracks).
    - ``performer`` (*optional*): more performers (as for ``midi-variation``); each input
      goes to the performer of its kind (drums or pitched).

    Call arguments: ``inputs`` (a path, MIDI bytes, a ``symusic.Score`` or an ``Excerpt``),
    ``track``, ``start_bar`` (default: the first window holding notes), ``bars`` (default 4),
    ``meter`` (e.g. ``(4, 4)``, replaces the file's time signatures), ``temperature`` (default 1.0; 0 is one
    deterministic performance), ``point_estimate`` (what ``temperature=0`` picks per note:
    ``"mean"``, the value nearest the expected one, by default: its dynamics follow the score
    best (on held-out data its velocities correlate more with the real ones than the other
    two); ``"argmax"``, the most likely value; or ``"median"``, the least expected absolute
    error), ``top_p`` (default 1.0, no truncation) and ``seed``.
    ``style``: one of ``pipe.styles`` (``"drums"`` Groove, ``"pop"`` POP909, ``"classical"``
    (n)ASAP, when its checkpoint is installed); default ``"drums"`` for drum tracks and
    ``"pop"`` for pitched ones. ``steps``: performer passes, by default the performer's own
    ``config.unmask_steps`` when sampling (1 is the paper's one-shot fill; more is iterative
    unmasking, for performers trained with a random mask ratio, as the shipped ones are) and
    1 at ``temperature=0`` (passes make sampled notes agree; a point estimate is each note's
    own).
    ``keep_performance=True`` keeps the input's own expressive velocities or timing and
    fills only the rest; ``humanize`` in [0, 1] blends the input's own values (0) with the
    performed ones (1).

    Returns:
        One dict: ``midi`` (bytes), ``score``, ``composition_ids`` (the input's score
        tokens), ``input_ids`` (full ids after the performer) and ``options``.
    """

    task_name = PERFORMANCE_TASK
    auto_class = "AutoModelForMaskedLM"

    def _init_performers(self, performer) -> dict:
        performers = {performer_kind(self.model): self.model}
        extra = resolve_performers(performer) if performer is not None else self._saved_performers()
        if performer is None and defaults.is_default_checkpoint(getattr(self.model, "name_or_path", "")):
            paths = {kind: path for kind, path in defaults.default_performers().items() if kind not in performers}
            extra = {kind: load_performer(path) for kind, path in paths.items()}
        for kind, model in extra.items():
            if kind in performers:
                raise ValueError(f"two performers of kind {kind!r}: the model and one in performer=")
            performers[kind] = model
        return performers

    def _sanitize_parameters(
        self,
        track=None,
        start_bar=None,
        bars=None,
        temperature=None,
        top_p=None,
        seed=None,
        point_estimate=None,
        meter=None,
        style=None,
        steps=None,
        keep_performance=None,
        humanize=None,
    ):
        pre = {k: v for k, v in dict(track=track, start_bar=start_bar, bars=bars, meter=meter).items() if v is not None}
        named = dict(
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            point_estimate=point_estimate,
            style=style,
            steps=steps,
            keep_performance=keep_performance,
            humanize=humanize,
        )
        forward = {k: v for k, v in named.items() if v is not None}
        self._check_sampling(temperature, top_p)
        self._check_performance_options(style, humanize, steps)
        if point_estimate is not None and point_estimate not in POINT_ESTIMATES:
            raise ValueError(f"point_estimate must be one of {POINT_ESTIMATES}, got {point_estimate!r}")
        return pre, forward, {}

    def preprocess(self, inputs, track=None, start_bar: int | None = None, bars: int = 4, meter=None) -> dict:
        if not isinstance(bars, int) or bars < 1:
            raise ValueError(f"bars must be a positive int, got {bars!r}")
        excerpt = load_excerpt(self.tokenizer, inputs, track, start_bar, bars, meter)
        ids = self.tokenizer.encode_excerpt(excerpt)
        window = {"track": track, "start_bar": excerpt.meta.start_bar, "bars": bars}
        return {"ids": ids, "meta": excerpt.meta, "window": window}

    def _forward(
        self,
        model_inputs: dict,
        temperature: float = DEFAULT_PERFORMANCE_TEMPERATURE,
        top_p: float = DEFAULT_PERFORMANCE_TOP_P,
        seed: int | None = None,
        point_estimate: str = DEFAULT_POINT_ESTIMATE,
        style: str | None = None,
        steps: int | None = None,
        keep_performance: bool = False,
        humanize: float | None = None,
    ) -> dict:
        meta = model_inputs["meta"]
        (full,) = self._perform(
            [model_inputs["ids"]],
            meta.is_drum,
            temperature,
            top_p,
            seed,
            point_estimate,
            style=style,
            steps=steps,
            keep_performance=keep_performance,
            humanize=humanize,
        )
        comp = self.tokenizer.composition_ids(model_inputs["ids"])
        options = {
            "mode": "perform",
            "kind": excerpt_kind(self.tokenizer, comp, meta.is_drum),
            **model_inputs["window"],
            "temperature": temperature,
            "top_p": top_p,
            "seed": seed,
            "point_estimate": point_estimate,
            "style": style or defaults.default_style(meta.is_drum),
            "steps": self.unmask_steps(self.performer_for(meta.is_drum, style), steps, temperature),
            "keep_performance": keep_performance,
            "humanize": humanize,
        }
        return {"composition_ids": comp, "full": full, "meta": meta, "options": options}

    def postprocess(self, model_outputs: dict) -> dict:
        return build_result(
            self.tokenizer,
            model_outputs["composition_ids"],
            model_outputs["full"],
            model_outputs["meta"],
            model_outputs["options"],
        )


__all__ = ["PERFORMANCE_TASK", "MidiPerformancePipeline"]
