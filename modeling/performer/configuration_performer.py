"""Configuration of the Cadenza performer (paper §3.2): a BERT-like masked-token encoder."""

from dataclasses import field

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

# Sizes of the two published settings. "paper" is §4.2 (12 layers, 12 heads, hidden 768, dropout 10%);
# the paper does not state the feed-forward width, so the usual 4 * hidden is used.
PERFORMER_PRESETS: dict[str, dict] = {
    "paper": {
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "hidden_size": 768,
        "intermediate_size": 3072,
        "hidden_dropout": 0.1,
        "attention_dropout": 0.1,
    },
    "small": {
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "hidden_size": 256,
        "intermediate_size": 1024,
    },
}

# in which order iterative unmasking (`fill_performance(steps > 1)`) commits slots: most confident first (MaskGIT),
# in sequence (note) order, or interleaved (bit-reversed note order: spread notes first, then the gaps)
UNMASK_ORDERS = ("confidence", "sequence", "interleaved")
# how many slots each pass commits: few at first and more later (MaskGIT's cosine) or the same share every pass
UNMASK_SCHEDULES = ("cosine", "linear")


@strict
class CadenzaPerformerConfig(PreTrainedConfig):
    r"""
    Configuration of [`CadenzaPerformerModel`] and [`CadenzaPerformerForMaskedLM`].

    The performer reads PerTok token ids in which every velocity and microtiming token was replaced by
    `mask_token_id`, and predicts the performance token at each masked slot (paper §3.2).

    Args:
        vocab_size (`int`, *optional*, defaults to 320):
            Size of the PerTok vocabulary.
        hidden_size (`int`, *optional*, defaults to 256):
            Width of the embeddings and of every encoder layer.
        num_hidden_layers (`int`, *optional*, defaults to 4):
            Number of transformer encoder layers.
        num_attention_heads (`int`, *optional*, defaults to 4):
            Number of attention heads per layer; must divide `hidden_size`.
        intermediate_size (`int`, *optional*, defaults to 1024):
            Width of the feed-forward block inside each layer.
        hidden_act (`str`, *optional*, defaults to `"gelu"`):
            Activation of the feed-forward block (any key of `transformers.activations.ACT2FN`).
        hidden_dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the embeddings and on the output of every attention / feed-forward block.
        attention_dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the attention probabilities.
        max_position_embeddings (`int`, *optional*, defaults to 1024):
            Number of rows of the fixed sinusoidal position table, i.e. the longest accepted sequence.
        layer_norm_eps (`float`, *optional*, defaults to 1e-12):
            Epsilon of every LayerNorm. 1e-12 is `BertConfig`'s value, so the performer and a stock BERT of the
            same size are numerically like-for-like (LayerNorm runs in float32 under autocast, so no underflow).
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of linear and embedding weights.
        pad_token_id (`int`, *optional*, defaults to 0):
            Id of the padding token (PerTok `PAD_None`).
        mask_token_id (`int`, *optional*, defaults to 3):
            Id of the `[MASK]` token written over every velocity / microtiming slot (PerTok `MASK_None`).
        tie_word_embeddings (`bool`, *optional*, defaults to `True`):
            Tie the output projection to the input token embedding (paper §3.2).
        velocity_token_ids (`list[int]`, *optional*, defaults to `[]`):
            Ids of the tokenizer's velocity tokens, in increasing velocity order;
            [`~CadenzaPerformerForMaskedLM.fill_performance`] only writes these into velocity slots (its median
            estimate reads them in this order).
        microtiming_token_ids (`list[int]`, *optional*, defaults to `[]`):
            Ids of the tokenizer's microtiming tokens, in increasing offset order; only these are written into
            microtiming slots.
        local_context_size (`int`, *optional*, defaults to 5):
            Width (odd) of a depthwise 1-D convolution over the token embeddings, added to them before the position
            table; 0 turns it off (the paper's plain sinusoidal encoder). Why it is on: with 100% of the performance
            slots masked, two tokens in three are `[MASK]`, and a slot must find its own note (the pitch or drum
            just before it) by attention alone. Measured on Groove drums (4 layers, hidden 256, lr 5e-4, batch 16),
            this encoder and a stock `BertForMaskedLM` of the same size both sat at 3.87-3.91 nats for 100-250
            steps: the entropy of the velocity and microtiming marginals, not even telling a velocity slot from a
            microtiming one, while a count model on the two previous tokens reaches 3.01. With the convolution the
            loss left that plateau by step 40 (3.27 at step 60). It costs about 0.1% of the parameters.
        unmask_steps (`int`, *optional*, defaults to 1):
            How many passes the pipelines' `fill_performance` makes when the caller does not say: 1 is the paper's
            one-shot fill of a 100%-masked input, right for a performer trained only on 100% masks; more is
            iterative unmasking, for a performer trained with a random mask ratio, whose later notes then read the
            velocities and timings already chosen (one player in one mood rather than independent draws per note).
        unmask_order (`str`, *optional*, defaults to `"confidence"`):
            Which masked slots each of those passes commits when the caller does not say (one of `UNMASK_ORDERS`):
            `"confidence"` (MaskGIT), the slots whose drawn value is most probable, `"sequence"`, the earliest
            notes, or `"interleaved"` (below). Confidence order commits likely values first and leaves unlikely
            draws to be drawn again, so it narrows what a sampling performer plays (a mode-seeking bias, like a
            lower temperature); sequence order keeps each note's spread but draws each pass's notes blind to the
            notes after them; `"interleaved"` commits notes spread (roughly evenly) over the excerpt first and then
            the middles of the gaps (bit-reversed note order), so most notes are drawn between two neighbours
            already chosen, as the random masks of training leave them. Which one is right is a property of the
            trained checkpoint (how wide its own per-note distributions are), so each checkpoint owns it; the
            shipped cards say which was measured.
        unmask_schedule (`str`, *optional*, defaults to `"cosine"`):
            How many slots each pass commits (one of `UNMASK_SCHEDULES`): `"cosine"` (MaskGIT), few at first and
            more at each later pass, so the first confident commits steer the rest, or `"linear"`, the same share
            every pass. In note order every pass's commits are sampled side by side, each reading only the notes
            before them, so the largest pass bounds how many neighbours a note is blind to: with 8 cosine passes it
            is about a fifth of the slots, with 6 linear ones a sixth.
        dynamics_levels (`int`, *optional*, defaults to 0):
            Number of per-bar dynamics levels the performer is conditioned on (0: none, the paper's performer). Each
            token's embedding gets a learned vector for its bar's level (the bar's mean velocity in bins of
            `dynamics_level_width`; id 0 = unknown). Why: a performer that fills every slot from the score alone
            draws each note's velocity from a distribution as wide as all recordings' loudness together, so an
            excerpt's dynamics jitter note to note; given its bar's level, a note's distribution is narrow, and the
            levels themselves are drawn once per excerpt as a random walk over bars (below), so they move as a
            phrase. Training reads the levels off the real performance (and drops them now and then, so that
            unknown still works).
        dynamics_level_width (`int`, *optional*, defaults to 8):
            Velocity units per dynamics level.
        dynamics_start_probs (`list[float]`, *optional*, defaults to `[]`):
            Distribution of the first bar's level over the training excerpts (`dynamics_levels` values); what
            `sample_level_ids` draws the first bar from.
        dynamics_step_probs (`list[float]`, *optional*, defaults to `[]`):
            Distribution of the change of level from one bar to the next (odd length, the middle entry is "no
            change"), measured on the training excerpts.
        metric_grid (`int`, *optional*, defaults to 0):
            Onset positions per quarter note that a **metric-position** embedding tells apart (0: none, the paper's
            performer; 12 covers the 16th and the triplet grids). Each token's embedding gets a learned vector for
            where its note sits in the bar: which quarter from the bar line (up to `metric_beats`) and where inside
            it. Why: PerTok writes time as `TimeShift` differences, so a note's place in the bar is a running sum of
            every shift since the last `Bar`, which a small encoder does not learn to add up; measured on POP909,
            the performers without it played an on-beat accent of +1.2 velocity where the pianists' is +4.0, on
            their own training excerpts, and the classical one none at all. The positions are computed from the
            ids inside the model (`metric_position_ids`), from the three token lists below.
        metric_beats (`int`, *optional*, defaults to 8):
            Quarter notes counted from the bar line by the metric-position embedding; later ones share the last.
        bar_token_id (`int`, *optional*):
            Id of the tokenizer's `Bar` token (where the metric position restarts); needed with `metric_grid`.
        time_shift_token_ids (`list[int]`, *optional*, defaults to `[]`):
            Ids of the tokenizer's `TimeShift` tokens; needed with `metric_grid`.
        time_shift_ticks (`list[int]`, *optional*, defaults to `[]`):
            The shift of each `time_shift_token_ids` entry, in ticks of `ticks_per_quarter`.
        ticks_per_quarter (`int`, *optional*, defaults to 480):
            The tokenizer's time resolution.

    Example:

    ```python
    >>> from cadenza_hf.modeling.performer import CadenzaPerformerConfig, CadenzaPerformerForMaskedLM

    >>> config = CadenzaPerformerConfig(
    ...     hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
    ...     velocity_token_ids=[10, 11, 12], microtiming_token_ids=[20, 21],
    ... )
    >>> model = CadenzaPerformerForMaskedLM(config)
    >>> model.config.model_type
    'cadenza_performer'
    >>> CadenzaPerformerConfig.from_preset("paper").hidden_size
    768

    ```
    """

    model_type = "cadenza_performer"
    # the names before issue 13 (BERT's), still read from older config.json files and accepted as arguments
    attribute_map = {"hidden_dropout_prob": "hidden_dropout", "attention_probs_dropout_prob": "attention_dropout"}

    vocab_size: int = 320
    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    hidden_act: str = "gelu"
    hidden_dropout: float | int = 0.1
    attention_dropout: float | int = 0.1
    max_position_embeddings: int = 1024
    layer_norm_eps: float = 1e-12
    initializer_range: float = 0.02
    pad_token_id: int | None = 0
    mask_token_id: int = 3
    tie_word_embeddings: bool = True
    velocity_token_ids: list[int] = field(default_factory=list)
    microtiming_token_ids: list[int] = field(default_factory=list)
    local_context_size: int = 5
    unmask_steps: int = 1
    unmask_order: str = "confidence"
    unmask_schedule: str = "cosine"
    dynamics_levels: int = 0
    dynamics_level_width: int = 8
    dynamics_start_probs: list[float] = field(default_factory=list)
    dynamics_step_probs: list[float] = field(default_factory=list)
    metric_grid: int = 0
    metric_beats: int = 8
    bar_token_id: int | None = None
    time_shift_token_ids: list[int] = field(default_factory=list)
    time_shift_ticks: list[int] = field(default_factory=list)
    ticks_per_quarter: int = 480

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "CadenzaPerformerConfig":
        """Build a config from a named size preset (`"paper"` or `"small"`); `overrides` win over the preset."""
        if name not in PERFORMER_PRESETS:
            raise ValueError(f"Unknown performer preset {name!r}; choose one of {sorted(PERFORMER_PRESETS)}.")
        return cls(**{**PERFORMER_PRESETS[name], **overrides})

    def validate_architecture(self):
        """Part of `@strict` validation: sizes, token ids and the two performance-token families."""
        super().validate_architecture()
        for name in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be positive, got {getattr(self, name)}.")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"`hidden_size` ({self.hidden_size}) must be divisible by `num_attention_heads` "
                f"({self.num_attention_heads})."
            )
        if self.local_context_size < 0 or (self.local_context_size and self.local_context_size % 2 == 0):
            raise ValueError(f"`local_context_size` must be 0 or odd and positive, got {self.local_context_size}.")
        if isinstance(self.unmask_steps, bool) or not isinstance(self.unmask_steps, int) or self.unmask_steps < 1:
            raise ValueError(f"`unmask_steps` must be a positive int, got {self.unmask_steps!r}.")
        if self.unmask_order not in UNMASK_ORDERS:
            raise ValueError(f"`unmask_order` must be one of {UNMASK_ORDERS}, got {self.unmask_order!r}.")
        if self.unmask_schedule not in UNMASK_SCHEDULES:
            raise ValueError(f"`unmask_schedule` must be one of {UNMASK_SCHEDULES}, got {self.unmask_schedule!r}.")
        self._check_dynamics()
        self._check_metric()
        for name in ("hidden_dropout", "attention_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {getattr(self, name)}.")
        self._check_token_ids()

    def _check_dynamics(self):
        if self.dynamics_levels < 0 or self.dynamics_level_width < 1:
            raise ValueError(
                f"`dynamics_levels` must be >= 0 and `dynamics_level_width` >= 1, got {self.dynamics_levels} and "
                f"{self.dynamics_level_width}."
            )
        if self.dynamics_start_probs and len(self.dynamics_start_probs) != self.dynamics_levels:
            raise ValueError(
                f"`dynamics_start_probs` must hold {self.dynamics_levels} values, got {len(self.dynamics_start_probs)}."
            )
        if self.dynamics_step_probs and len(self.dynamics_step_probs) % 2 == 0:
            raise ValueError(f"`dynamics_step_probs` must have odd length, got {len(self.dynamics_step_probs)}.")

    def _check_metric(self):
        if self.metric_grid < 0 or self.metric_beats < 1 or self.ticks_per_quarter < 1:
            raise ValueError(
                f"`metric_grid` must be >= 0, `metric_beats` and `ticks_per_quarter` >= 1, got {self.metric_grid}, "
                f"{self.metric_beats} and {self.ticks_per_quarter}."
            )
        if len(self.time_shift_token_ids) != len(self.time_shift_ticks):
            raise ValueError(
                f"`time_shift_token_ids` and `time_shift_ticks` must have one length, got "
                f"{len(self.time_shift_token_ids)} and {len(self.time_shift_ticks)}."
            )
        if any(not 0 <= i < self.vocab_size for i in self.time_shift_token_ids) or any(
            t < 1 for t in self.time_shift_ticks
        ):
            raise ValueError("`time_shift_token_ids` must be ids of the vocabulary and `time_shift_ticks` positive.")
        if self.metric_grid and (self.bar_token_id is None or not self.time_shift_token_ids):
            raise ValueError("`metric_grid` needs `bar_token_id` and the `time_shift_*` lists of the tokenizer.")
        if self.bar_token_id is not None and not 0 <= self.bar_token_id < self.vocab_size:
            raise ValueError(f"`bar_token_id` must be in [0, {self.vocab_size}), got {self.bar_token_id}.")

    def _check_token_ids(self):
        specials = {"pad_token_id": self.pad_token_id, "mask_token_id": self.mask_token_id}
        for name, value in specials.items():
            if value is not None and not 0 <= value < self.vocab_size:
                raise ValueError(f"`{name}` must be in [0, {self.vocab_size}), got {value}.")
        for name in ("velocity_token_ids", "microtiming_token_ids"):
            ids = getattr(self, name)
            bad = [i for i in ids if not 0 <= i < self.vocab_size or i in specials.values()]
            if bad:
                raise ValueError(f"`{name}` must hold ids in [0, {self.vocab_size}) other than pad/mask, got {bad}.")
            if len(set(ids)) != len(ids):
                raise ValueError(f"`{name}` holds duplicate ids: {ids}.")
        shared = sorted(set(self.velocity_token_ids) & set(self.microtiming_token_ids))
        if shared:
            raise ValueError(f"`velocity_token_ids` and `microtiming_token_ids` must be disjoint, both hold {shared}.")


__all__ = ["PERFORMER_PRESETS", "CadenzaPerformerConfig"]
