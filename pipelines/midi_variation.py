"""``pipeline("midi-variation")``: variations of a MIDI idea, new ideas, interpolations.

The composer (a transformer VAE) writes the score; a performer then fills velocity and
microtiming. Three modes, one ``__call__``:

- **variations** (an input is given): ``pipe("idea.mid", num_variations=4)``;
- **new ideas** (no input): ``pipe(kind="drums", num_variations=4)``, latents from the
  prior; ``kind`` is ``"drums"``, ``"melody"`` or ``"polyphonic"`` (see
  :mod:`cadenza_hf.pipelines.midi_inputs` for how a kind is imposed);
- **interpolation**: ``pipe("a.mid", interpolate_to="b.mid", steps=5)``, ideas along the
  spherical path between the two inputs' posterior means (``a`` first, ``b`` last),
  in ``a``'s tempo, meter and instrument.
"""

from __future__ import annotations

from ..generation.variation import DEFAULT_VARIATION_STRENGTH, ComposeOptions, generate_ideas, interpolate, vary
from ..hub import defaults
from .base import DEFAULT_PERFORMANCE_TEMPERATURE, DEFAULT_PERFORMANCE_TOP_P, CadenzaPipeline
from .midi_inputs import blank_meta, check_bars, check_kind, excerpt_kind, load_excerpt, variation_kind
from .performers import load_performer, resolve_performers
from .results import TokenProgress, build_result, count_duplicates

VARIATION_TASK = "midi-variation"
_VALID_DENOMINATORS = (1, 2, 4, 8, 16, 32)


class MidiVariationPipeline(CadenzaPipeline):
    """Composer + performer pipeline over PerTok tokens.

    Build it with ``pipeline("midi-variation", model=..., performer=...)``:

    - ``model``: a composer folder, Hub id or ``CadenzaComposerModel``; left out, the
      composer shipped in ``cadenza_hf/checkpoints/composer``.
    - ``performer`` (*optional*): a performer (model, folder or Hub id), a list of them,
      or ``{"drums": ..., "pitched": ...}``. Drum tracks go to the drum performer and
      pitched tracks to the pitched one (see :mod:`cadenza_hf.pipelines.performers`).
      Left out: the performers saved with the composer (a saved pipeline), else the
      shipped ones.

    Call arguments (also accepted as ``pipeline(...)`` defaults):

    - ``inputs``: a path, MIDI bytes, a ``symusic.Score`` or an ``Excerpt``; ``None`` for new ideas.
    - ``track`` (index or name; default the busiest), ``start_bar`` (default: the first window of
      ``bars`` bars holding notes), ``bars`` (default 4; at most the composer's positions over
      ``TOKENS_PER_BAR``), ``meter`` (e.g. ``(4, 4)``: replaces the file's time signatures).
    - ``num_variations`` (default 4): outputs per call (variations or new ideas).
    - ``variation_strength`` (float in [0, 1]): 0 stays closest to the input, 1 ignores it (with
      idea attention, the share of the idea masked before the composer reads it).
    - ``temperature`` (0 is greedy) and ``top_p``: composer sampling.
    - Defaults of these three and ``max_new_tokens``: the composer's ``generation_config.json``
      (``variation_strength``, not a transformers generation parameter, in its ``config.json``;
      the shipped composer's are chosen by measurement, see the model card), else
      ``DEFAULT_VARIATION_STRENGTH`` and :class:`~cadenza_hf.generation.variation.ComposeOptions`.
    - ``performance_temperature`` (default 1.0; 0 is the most likely performance) and
      ``performance_top_p`` (default 1.0, no truncation): performer sampling.
    - ``seed``: the same seed gives the same outputs, byte for byte.
    - ``style``: the performer's style (``pipe.styles``: drums, pop, classical); default
      drums for drum tracks and pop for pitched ones.
    - ``kind``: ``"drums"``, ``"melody"`` or ``"polyphonic"``. New ideas default to
      polyphonic; variations default to the input's kind.
    - ``keep_bars`` (variations): bar numbers of the idea, counted from 1 within the window, that
      come back exactly as they are (e.g. ``[1, 2]``); the other bars are varied.
    - ``interpolate_to`` and ``steps`` (default 5): interpolation mode.
    - ``time_signature`` (default (4, 4)) and ``qpm`` (default 120): meter and tempo of new ideas.
    - ``max_new_tokens``: composer token budget (the grammar closes every bar in it).
    - ``progress_bar`` (default False): show a progress bar while composing.

    Returns:
        A list with one dict per output: ``midi`` (bytes), ``score`` (``symusic.Score``),
        ``composition_ids``, ``input_ids`` (full ids after the performer) and ``options``.

    Example:

    ```python
    >>> import cadenza_hf
    >>> from transformers import pipeline
    >>> pipe = pipeline("midi-variation")                         # doctest: +SKIP
    >>> outputs = pipe("idea.mid", num_variations=4, seed=0)       # doctest: +SKIP
    >>> open("idea_var1.mid", "wb").write(outputs[0]["midi"])      # doctest: +SKIP
    ```
    """

    task_name = VARIATION_TASK
    auto_class = "AutoModelForCausalLM"

    def __call__(self, inputs=None, **kwargs):
        """Variations of ``inputs``, or new ideas when ``inputs`` is None (see the class docstring)."""
        return super().__call__(inputs, **kwargs)

    def _init_performers(self, performer) -> dict:
        if performer is not None:
            performers = resolve_performers(performer)
        else:
            performers = self._saved_performers() or {
                kind: load_performer(path) for kind, path in defaults.default_performers().items()
            }
        if not performers:
            raise ValueError(
                "no performer: pass performer=<folder, Hub id or model> (or a dict {'drums': ..., 'pitched': ...}); "
                "this installation ships none"
            )
        return performers

    # ---- the four pipeline steps -------------------------------------------------------
    def _sanitize_parameters(
        self,
        track=None,
        start_bar=None,
        bars=None,
        kind=None,
        interpolate_to=None,
        time_signature=None,
        qpm=None,
        num_variations=None,
        variation_strength=None,
        steps=None,
        temperature=None,
        top_p=None,
        performance_temperature=None,
        performance_top_p=None,
        seed=None,
        max_new_tokens=None,
        progress_bar=None,
        keep_bars=None,
        meter=None,
        style=None,
    ):
        pre = {
            k: v
            for k, v in dict(
                track=track,
                start_bar=start_bar,
                bars=bars,
                kind=check_kind(kind),
                interpolate_to=interpolate_to,
                time_signature=time_signature,
                qpm=qpm,
                meter=meter,
            ).items()
            if v is not None
        }
        forward = {
            k: v
            for k, v in dict(
                num_variations=num_variations,
                variation_strength=variation_strength,
                steps=steps,
                temperature=temperature,
                top_p=top_p,
                performance_temperature=performance_temperature,
                performance_top_p=performance_top_p,
                seed=seed,
                max_new_tokens=max_new_tokens,
                progress_bar=progress_bar,
                keep_bars=keep_bars,
                style=style,
            ).items()
            if v is not None
        }
        self._check_forward(forward)
        self._check_performance_options(style=style)
        return pre, forward, {}

    @classmethod
    def _check_forward(cls, f: dict) -> None:
        if "num_variations" in f and (not isinstance(f["num_variations"], int) or f["num_variations"] < 1):
            raise ValueError(f"num_variations must be a positive int, got {f['num_variations']!r}")
        if "variation_strength" in f and not 0.0 <= f["variation_strength"] <= 1.0:
            raise ValueError(f"variation_strength must be in [0, 1], got {f['variation_strength']}")
        if "steps" in f and (not isinstance(f["steps"], int) or f["steps"] < 2):
            raise ValueError(f"steps must be an int >= 2 (both ends included), got {f['steps']!r}")
        if "keep_bars" in f:
            bars = f["keep_bars"]
            if isinstance(bars, int | str) or not all(isinstance(b, int) and b >= 1 for b in bars):
                raise ValueError(f"keep_bars must be a list of bar numbers counted from 1, got {bars!r}")
        if "max_new_tokens" in f and f["max_new_tokens"] < 8:
            raise ValueError(f"max_new_tokens must be at least 8, got {f['max_new_tokens']}")
        cls._check_sampling(f.get("temperature"), f.get("top_p"))
        cls._check_sampling(f.get("performance_temperature"), f.get("performance_top_p"), "performance_")

    def preprocess(
        self,
        inputs,
        track=None,
        start_bar: int | None = None,
        bars: int = 4,
        kind=None,
        interpolate_to=None,
        time_signature=(4, 4),
        qpm: float = 120.0,
        meter=None,
    ) -> dict:
        if not isinstance(bars, int) or bars < 1:
            raise ValueError(f"bars must be a positive int, got {bars!r}")
        check_bars(self.model, bars)
        window = {"track": track, "start_bar": start_bar, "bars": bars}
        if inputs is None:
            if interpolate_to is not None:
                raise ValueError("interpolate_to needs an input to interpolate from")
            kind = kind or "polyphonic"
            return {
                "mode": "generate",
                "meta": self._blank_meta(kind, bars, time_signature, qpm),
                "kind": kind,
                "window": {"bars": bars},
            }
        excerpt = load_excerpt(self.tokenizer, inputs, track, start_bar, bars, meter)
        window["start_bar"] = excerpt.meta.start_bar
        comp = self.tokenizer.composition_ids(self.tokenizer.encode_excerpt(excerpt))
        check_bars(self.model, excerpt.meta.bars, comp)
        kind = variation_kind(excerpt_kind(self.tokenizer, comp, excerpt.meta.is_drum), kind)
        out = {"mode": "vary", "meta": excerpt.meta, "ids": comp, "kind": kind, "window": window}
        if interpolate_to is not None:
            other = load_excerpt(self.tokenizer, interpolate_to, track, start_bar, bars, meter)
            if other.meta.is_drum != excerpt.meta.is_drum:
                raise ValueError("cannot interpolate between a drum track and a pitched track")
            out.update(mode="interpolate", ids_b=self.tokenizer.composition_ids(self.tokenizer.encode_excerpt(other)))
        return out

    def _blank_meta(self, kind, bars, time_signature, qpm):
        num, den = time_signature
        if num < 1 or den not in _VALID_DENOMINATORS:
            raise ValueError(f"time_signature must be (n >= 1, one of {_VALID_DENOMINATORS}), got {time_signature}")
        if not qpm > 0:
            raise ValueError(f"qpm must be positive, got {qpm}")
        return blank_meta(self.tokenizer, kind, bars, time_signature, qpm)

    def _forward(
        self,
        model_inputs: dict,
        num_variations: int = 4,
        variation_strength: float | None = None,
        steps: int = 5,
        temperature: float | None = None,
        top_p: float | None = None,
        performance_temperature: float = DEFAULT_PERFORMANCE_TEMPERATURE,
        performance_top_p: float = DEFAULT_PERFORMANCE_TOP_P,
        seed: int | None = None,
        max_new_tokens: int | None = None,
        progress_bar: bool = False,
        keep_bars=(),
        style: str | None = None,
    ) -> dict:
        meta, kind, mode = model_inputs["meta"], model_inputs["kind"], model_inputs["mode"]
        # Unset sampling options come from the composer's generation_config.json (their one owner), else from
        # the library's fallbacks (ComposeOptions and DEFAULT_VARIATION_STRENGTH).
        fallback = ComposeOptions()
        variation_strength = self.generation_default(
            "variation_strength", variation_strength, DEFAULT_VARIATION_STRENGTH
        )
        temperature = self.generation_default("temperature", temperature, fallback.temperature)
        top_p = self.generation_default("top_p", top_p, fallback.top_p)
        max_new_tokens = self.generation_default("max_new_tokens", max_new_tokens, fallback.max_new_tokens)
        self._check_forward({"variation_strength": variation_strength, "temperature": temperature, "top_p": top_p})
        if keep_bars and mode != "vary":
            raise ValueError("keep_bars applies to variations of an idea only")
        if any(b > meta.bars for b in keep_bars):
            raise ValueError(f"keep_bars {sorted(keep_bars)}: the idea has bars 1-{meta.bars}")
        options = ComposeOptions(
            bars=meta.bars,
            drums=kind == "drums",
            monophonic=kind == "melody",
            time_signature=meta.meter,  # one meter, or each bar's when the idea crosses meter changes
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
        )
        streamer = TokenProgress(max_new_tokens) if progress_bar else None
        if mode == "generate":
            rows = generate_ideas(self.model, self.tokenizer, num_variations, options, seed, streamer)
        elif mode == "interpolate":
            rows = interpolate(
                self.model, self.tokenizer, model_inputs["ids"], model_inputs["ids_b"], steps, options, seed, streamer
            )
        else:
            rows = vary(
                self.model,
                self.tokenizer,
                model_inputs["ids"],
                num_variations,
                variation_strength,
                options,
                seed,
                streamer,
                keep_bars=sorted(b - 1 for b in set(keep_bars)),
            )
        full = self._perform(rows, meta.is_drum, performance_temperature, performance_top_p, seed, style=style)
        settings = {
            "mode": mode,
            "kind": kind,
            **model_inputs["window"],
            "temperature": temperature,
            "top_p": top_p,
            "performance_temperature": performance_temperature,
            "performance_top_p": performance_top_p,
            "seed": seed,
            "max_new_tokens": max_new_tokens,
            "duplicates": count_duplicates(rows, {"generate": "ideas", "vary": "variations"}.get(mode, "steps")),
        }
        if mode == "vary":
            settings.update(
                num_variations=num_variations, variation_strength=variation_strength, keep_bars=sorted(set(keep_bars))
            )
        elif mode == "interpolate":
            settings.update(steps=steps)
        else:
            settings.update(
                num_variations=num_variations, time_signature=list(meta.time_signature), qpm=meta.tempos[0][1]
            )
        return {"rows": rows, "full": full, "meta": meta, "options": settings}

    def postprocess(self, model_outputs: dict) -> list[dict]:
        return [
            build_result(self.tokenizer, comp, full, model_outputs["meta"], {**model_outputs["options"], "index": i})
            for i, (comp, full) in enumerate(zip(model_outputs["rows"], model_outputs["full"]))
        ]


__all__ = ["VARIATION_TASK", "MidiVariationPipeline"]
