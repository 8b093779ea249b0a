"""What the two cadenza pipelines share: tokenizer, performers, options, saving."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import AutoTokenizer, Pipeline

from ..generation.performance import blend_performance, check_humanize, expressive_families, fill_performance_ids
from ..hub import defaults
from ..tokenization.tokenization_pertok import PerTokTokenizer
from .performers import KIND_ATTRIBUTE, SUBFOLDERS_ATTRIBUTE, check_performer, load_performer, select_performer
from .saving import mark_pipeline, write_pipeline_code

DEFAULT_PERFORMANCE_TEMPERATURE = 1.0
# No nucleus truncation for the performer by default: each slot's distribution has a dominant
# mode (on POP909, "no microtiming" holds most of the mass: entropy 0.53 nats over 31 bins), so
# top-p 0.95 deletes exactly the rare deviations that make a performance sound played. Measured
# with the shipped pitched performer on 4 variations of the example idea (seed 0, 84 notes): top-p
# 0.95 moved 0 notes off the grid, plain sampling moved 3, as sparingly as POP909's pianists do.
DEFAULT_PERFORMANCE_TOP_P = 1.0
# What temperature 0 picks per note. Measured on 100 held-out excerpts per set, one pass, with the shipped
# performers: mean within-excerpt correlation of the velocities with the real ones 0.557 / 0.226 / 0.378
# (Groove / POP909 / ASAP) for "mean", 0.540 / 0.227 / 0.365 for "median", 0.430 / 0.146 / 0.353 for "argmax".
DEFAULT_POINT_ESTIMATE = "mean"


class CadenzaPipeline(Pipeline):
    """Base of the cadenza pipelines: a main model, a PerTok tokenizer and ``{kind: performer}``.

    Subclasses set ``task_name`` and ``auto_class`` and build ``self.performers`` in
    ``_init_performers``.
    """

    # None: transformers tries AutoTokenizer on a model *name* and stays quiet on failure;
    # ``_init_tokenizer`` then loads it itself (raising the real error) or, for a model
    # object built in memory, uses the default PerTok tokenizer.
    _load_tokenizer = None
    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_video_processor = False
    _pipeline_calls_generate = False
    task_name = ""
    auto_class = ""

    def __init__(self, model, tokenizer=None, performer=None, **kwargs):
        super().__init__(model=model, tokenizer=tokenizer, **kwargs)
        self.tokenizer = self._init_tokenizer(tokenizer)
        self.model.eval()
        self.performers = self._init_performers(performer)
        for model in self.performers.values():
            check_performer(model, self.tokenizer)
            model.to(self.device)
            model.eval()

    def _init_tokenizer(self, tokenizer) -> PerTokTokenizer:
        if tokenizer is None:
            source = getattr(self.model, "name_or_path", "") or ""
            local = Path(source).is_dir()
            if source and (not local or (Path(source) / "tokenizer_config.json").is_file()):
                tokenizer = AutoTokenizer.from_pretrained(source)
            else:
                tokenizer = PerTokTokenizer()
        if not isinstance(tokenizer, PerTokTokenizer):
            raise TypeError(f"the cadenza pipelines need a PerTokTokenizer, got {type(tokenizer).__name__}")
        if tokenizer.vocab_size != self.model.config.vocab_size:
            raise ValueError(
                f"the tokenizer has {tokenizer.vocab_size} tokens but the model was trained on "
                f"{self.model.config.vocab_size}: use the tokenizer saved with the model"
            )
        return tokenizer

    def _init_performers(self, performer) -> dict:
        raise NotImplementedError

    # ---- shared steps --------------------------------------------------------------
    def _perform(
        self,
        rows,
        drums: bool,
        temperature: float,
        top_p: float,
        seed: int | None,
        point_estimate: str = DEFAULT_POINT_ESTIMATE,
        style: str | None = None,
        steps: int | None = None,
        keep_performance: bool = False,
        humanize: float | None = None,
    ) -> list[list[int]]:
        """Fill velocity and microtiming of each id row with the performer for its style (default: its kind).

        ``keep_performance`` keeps what each row already plays expressively (its own velocities
        unless all equal, its own timing unless all on the grid) and fills only the rest;
        ``humanize`` in [0, 1] then blends each row's own values with the performed ones.
        """
        performer = self.performer_for(drums, style)
        steps = self.unmask_steps(performer, steps, temperature)
        generator = None
        if seed is not None:
            generator = torch.Generator(device=performer.device).manual_seed(seed)
        options = dict(
            temperature=temperature, top_p=top_p, generator=generator, point_estimate=point_estimate, steps=steps
        )
        if not keep_performance and humanize is None:
            return fill_performance_ids(performer, self.tokenizer, rows, **options)
        out = []
        for row in rows:
            own = list(row.tolist() if hasattr(row, "tolist") else row)
            keep = expressive_families(self.tokenizer, own) if keep_performance else ()
            (full,) = fill_performance_ids(performer, self.tokenizer, [own], keep=keep, **options)
            if humanize is not None and len(own) == len(full):
                full = blend_performance(self.tokenizer, own, full, humanize)
            out.append(full)
        return out

    @staticmethod
    def unmask_steps(performer, steps: int | None = None, temperature: float = DEFAULT_PERFORMANCE_TEMPERATURE) -> int:
        """``steps`` if given, else 1 at temperature 0 (a point estimate is each note's own; passes exist to make
        sampled notes agree), else the performer's own ``config.unmask_steps`` (1, the paper's one-shot fill, for
        performers trained on 100% masks only; more for those trained with a random mask ratio)."""
        if steps is not None:
            return steps
        if temperature == 0:
            return 1
        return getattr(performer.config, "unmask_steps", None) or 1

    @property
    def styles(self) -> tuple[str, ...]:
        """The performance styles a call may ask for (``style=``)."""
        return defaults.STYLE_NAMES

    def performer_for(self, drums: bool, style: str | None = None):
        """The performer of ``style``, or with no style the pipeline's performer for the track's kind.

        A style is served by a performer of this pipeline whose ``config.performer_style`` names it,
        else by the style's shipped checkpoint (loaded once).
        """
        if style is None:
            return select_performer(self.performers, drums)
        defaults.check_style(style)
        for model in self.performers.values():
            if getattr(model.config, "performer_style", None) == style:
                return model
        folder, kind = defaults.STYLES[style]
        if defaults.is_default_checkpoint(getattr(self.performers.get(kind), "name_or_path", "") or ""):
            shipped = Path(self.performers[kind].name_or_path).resolve()
            if shipped == defaults.checkpoint_root_path(folder):
                return self.performers[kind]
        cache = self.__dict__.setdefault("_style_performers", {})
        if style not in cache:
            model = load_performer(defaults.style_checkpoint(style))
            check_performer(model, self.tokenizer)
            cache[style] = model.to(self.device).eval()
        return cache[style]

    @staticmethod
    def _check_performance_options(style=None, humanize=None, steps=None) -> None:
        """One clear ValueError for a bad style, humanize amount or step count."""
        if style is not None:
            defaults.check_style(style)
        if humanize is not None:
            check_humanize(humanize)
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise ValueError(f"steps must be a positive int, got {steps!r}")

    def generation_default(self, name: str, value, fallback):
        """``value`` if given, else the model's ``generation_config.<name>``, else its ``config.<name>`` (for knobs
        that are not transformers generation parameters, such as ``variation_strength``: ``GenerationConfig``
        drops keys it does not know when it loads), else ``fallback``."""
        if value is not None:
            return value
        for source in (getattr(self.model, "generation_config", None), getattr(self.model, "config", None)):
            configured = getattr(source, name, None)
            if configured is not None:
                return configured
        return fallback

    @staticmethod
    def _check_sampling(temperature, top_p, name: str = "") -> None:
        if temperature is not None and not temperature >= 0:  # NaN too
            raise ValueError(f"{name}temperature must be >= 0, got {temperature}")
        if top_p is not None and not 0 < top_p <= 1:
            raise ValueError(f"{name}top_p must be in (0, 1], got {top_p}")

    # ---- saving ----------------------------------------------------------------------
    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs):
        """Save the model, the tokenizer and the performers so that the pipeline reloads.

        Reload with ``pipeline("<task>", model=save_directory)`` in a process that imported
        ``cadenza_hf``, or with ``pipeline(model=save_directory, trust_remote_code=True)``
        (see :mod:`cadenza_hf.pipelines.saving`).
        """
        if os.path.isfile(save_directory):
            raise ValueError(f"{save_directory} is a file, expected a folder")
        os.makedirs(save_directory, exist_ok=True)
        self._save_performers(save_directory, **kwargs)
        mark_pipeline(self.model.config, self.task_name, type(self).__name__, self.auto_class)
        write_pipeline_code(save_directory)
        self.model.save_pretrained(save_directory, **kwargs)
        self.tokenizer.save_pretrained(save_directory)

    def _save_performers(self, save_directory, **kwargs) -> None:
        """Save every performer other than the main model into ``performer-<kind>/``.

        Each one's kind goes into its ``config.performer_kind`` and the folders into the
        main model's ``config.cadenza_performers``, which :meth:`_saved_performers` reads.
        """
        folders = {}
        for kind, performer in self.performers.items():
            setattr(performer.config, KIND_ATTRIBUTE, kind)
            if performer is not self.model:
                folders[kind] = f"performer-{kind}"
                performer.save_pretrained(os.path.join(save_directory, folders[kind]), **kwargs)
        setattr(self.model.config, SUBFOLDERS_ATTRIBUTE, folders)

    def _saved_performers(self) -> dict:
        """The performers a saved pipeline keeps next to its main model (``{kind: model}``)."""
        folders = getattr(self.model.config, SUBFOLDERS_ATTRIBUTE, None) or {}
        root = getattr(self.model, "name_or_path", "")
        return {kind: load_performer(root, subfolder=sub) for kind, sub in folders.items()} if root else {}


__all__ = ["DEFAULT_PERFORMANCE_TEMPERATURE", "DEFAULT_PERFORMANCE_TOP_P", "DEFAULT_POINT_ESTIMATE", "CadenzaPipeline"]
