"""The Cadenza performer (paper §3.2): a bidirectional transformer encoder that fills masked velocity and
microtiming slots of a PerTok sequence.

Architecture (Vaswani et al. 2017, post-LayerNorm, as BERT): token embedding scaled by sqrt(hidden) plus a fixed
sinusoidal position table, LayerNorm and dropout; `num_hidden_layers` encoder layers (self-attention and a
feed-forward block, each followed by dropout, a residual add and LayerNorm); an output projection tied to the token
embedding. The training loss is cross-entropy on the masked (labelled) positions only.
"""

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, MaskedLMOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_performer import UNMASK_ORDERS, UNMASK_SCHEDULES, CadenzaPerformerConfig

# what `fill_performance(temperature=0)` may pick per slot: the most likely bin or the median bin
POINT_ESTIMATES = ("argmax", "median", "mean")


def sinusoidal_position_table(num_positions: int, dim: int) -> torch.Tensor:
    """Fixed position table of Vaswani et al.: `table[p, 2i] = sin(p / 10000^(2i/dim))`, `table[p, 2i+1] = cos(...)`.

    Returns a float32 tensor of shape `(num_positions, dim)`.
    """
    positions = torch.arange(num_positions, dtype=torch.float32)[:, None]  # (P, 1)
    inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))  # (ceil(dim/2),)
    angles = positions * inv_freq  # (P, ceil(dim/2))
    # interleave sin/cos: (P, ceil(dim/2), 2) -> (P, 2 * ceil(dim/2)), then drop the extra column when dim is odd
    return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(1)[:, :dim]


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference attention for `attn_implementation="eager"`; inputs `(batch, heads, seq, head_dim)`."""
    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling  # (B, H, T, T)
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask  # additive float mask from `create_bidirectional_mask`
    attn_weights = F.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)
    attn_weights = F.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value).transpose(1, 2).contiguous()  # (B, T, H, D)
    return attn_output, attn_weights


def shift_tick_table(config: CadenzaPerformerConfig) -> torch.Tensor:
    """`(vocab_size,)` long tensor: the ticks each `TimeShift` id moves time by (`config.time_shift_*`), 0 elsewhere."""
    table = torch.zeros(config.vocab_size, dtype=torch.long)
    table[torch.tensor(config.time_shift_token_ids, dtype=torch.long)] = torch.tensor(config.time_shift_ticks)
    return table


class CadenzaPerformerEmbeddings(nn.Module):
    """Token embedding (scaled by sqrt(hidden_size)), plus a depthwise convolution of it over neighbouring tokens
    (`config.local_context_size`, see the config), plus the fixed sinusoidal position table, then LayerNorm."""

    def __init__(self, config: CadenzaPerformerConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        # Vaswani et al. scale the embedding so that a 0.02-std token vector is not drowned by the unit-amplitude
        # sinusoids (the embedding is tied to the output projection, so it keeps its small init scale).
        self.scale = math.sqrt(config.hidden_size)
        # Not persistent: it is a pure function of the config. `_init_weights` re-creates it after `from_pretrained`
        # (which builds the model on the meta device and would otherwise leave garbage here).
        self.register_buffer(
            "position_table",
            sinusoidal_position_table(config.max_position_embeddings, config.hidden_size),
            persistent=False,
        )
        self.local_context = None
        if config.local_context_size:
            width = config.local_context_size
            self.local_context = nn.Conv1d(
                config.hidden_size, config.hidden_size, width, padding=width // 2, groups=config.hidden_size
            )
        # per-bar dynamics level (id 0 = unknown), see `CadenzaPerformerConfig.dynamics_levels`
        self.dynamics = nn.Embedding(config.dynamics_levels + 1, config.hidden_size) if config.dynamics_levels else None
        # metric position of each token's note (id 0 = none), see `CadenzaPerformerConfig.metric_grid`
        self.metric = None
        if config.metric_grid:
            self.metric = nn.Embedding(config.metric_grid * config.metric_beats + 1, config.hidden_size)
            # not persistent: a pure function of the config, re-created by `_init_weights` (see `position_table`)
            self.register_buffer("shift_ticks", shift_tick_table(config), persistent=False)
        self.config = config
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(
        self,
        input_ids: torch.LongTensor,
        position_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        level_ids: torch.LongTensor | None = None,
    ) -> torch.Tensor:
        seq_len = input_ids.shape[1]
        if position_ids is None and seq_len > self.position_table.shape[0]:
            raise ValueError(
                f"Sequence length {seq_len} exceeds `max_position_embeddings` ({self.position_table.shape[0]})."
            )
        positions = self.position_table[:seq_len] if position_ids is None else self.position_table[position_ids]
        tokens = self.word_embeddings(input_ids) * self.scale  # (B, T, hidden)
        if self.local_context is not None:
            if attention_mask is not None:  # padding must not leak into the last real tokens
                tokens = tokens * attention_mask[..., None].to(tokens.dtype)
            tokens = tokens + self.local_context(tokens.transpose(1, 2)).transpose(1, 2)
        embeddings = tokens + positions.to(tokens.dtype)
        if self.dynamics is not None and level_ids is not None:
            embeddings = embeddings + self.dynamics(level_ids)
        if self.metric is not None:
            embeddings = embeddings + self.metric(self.metric_position_ids(input_ids, attention_mask))
        return self.dropout(self.LayerNorm(embeddings))  # (B, T, hidden)

    def metric_position_ids(
        self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None
    ) -> torch.LongTensor:
        """Per token, 1 + the place of its note in the bar: `beat * metric_grid + phase`, where `beat` is the
        quarter note from the last `Bar` token (capped at `metric_beats - 1`) and `phase` the position inside it on
        a `metric_grid` grid (floored); 0 on padding. Time is the running sum of the `TimeShift` tokens, which
        PerTok counts from the bar line after each `Bar`, so a note's tokens (pitch, velocity, microtiming,
        duration) all get the position of its onset. `(B, T)` long."""
        config = self.config
        elapsed = self.shift_ticks[input_ids].cumsum(-1)  # (B, T) ticks since the sequence start
        bar_start = torch.where(input_ids == config.bar_token_id, elapsed, torch.zeros_like(elapsed)).cummax(-1).values
        in_bar = elapsed - bar_start  # (B, T) ticks since the last bar line
        tpq = config.ticks_per_quarter
        beat = torch.div(in_bar, tpq, rounding_mode="floor").clamp(max=config.metric_beats - 1)
        phase = torch.div(in_bar % tpq * config.metric_grid, tpq, rounding_mode="floor")
        ids = 1 + beat * config.metric_grid + phase
        if attention_mask is not None:
            ids = ids.masked_fill(attention_mask == 0, 0)
        return ids


class CadenzaPerformerAttention(nn.Module):
    """Bidirectional multi-head self-attention (query, key, value and output projections named as the
    composer's), dispatched through the transformers attention interface (sdpa by default)."""

    def __init__(self, config: CadenzaPerformerConfig, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.is_causal = False
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.attention_dropout = config.attention_dropout
        self.q_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.k_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.v_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.o_proj = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        query_index: torch.LongTensor | None = None,
    ) -> torch.Tensor:
        """`(B, T, hidden)`, or `(B, len(query_index), hidden)` when only the positions `query_index` ask (every
        position is still a key and a value)."""
        batch, seq_len, _ = hidden_states.shape
        shape = (batch, seq_len, -1, self.head_dim)
        asking = hidden_states if query_index is None else hidden_states[:, query_index]
        query = self.q_proj(asking).view(batch, asking.shape[1], -1, self.head_dim).transpose(1, 2)  # (B, H, Q, D)
        key = self.k_proj(hidden_states).view(shape).transpose(1, 2)  # (B, H, T, D)
        value = self.v_proj(hidden_states).view(shape).transpose(1, 2)
        if query_index is not None and attention_mask is not None:
            attention_mask = attention_mask[:, :, query_index]  # (B, 1, Q, T)
        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        attn_output, _ = attention_interface(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=self.attention_dropout if self.training else 0.0,
            scaling=self.scaling,
            is_causal=False,
        )
        attn_output = attn_output.reshape(batch, asking.shape[1], -1)  # (B, Q, H, D) -> (B, Q, hidden)
        return self.o_proj(attn_output)


class CadenzaPerformerMLP(nn.Module):
    """Position-wise feed-forward block: hidden -> intermediate -> hidden."""

    def __init__(self, config: CadenzaPerformerConfig):
        super().__init__()
        self.fc_in = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = ACT2FN[config.hidden_act]
        self.fc_out = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc_out(self.act(self.fc_in(hidden_states)))


class CadenzaPerformerLayer(GradientCheckpointingLayer):
    """One post-LayerNorm encoder layer: `x = LN(x + drop(attn(x)))`, then `x = LN(x + drop(mlp(x)))`."""

    def __init__(self, config: CadenzaPerformerConfig, layer_idx: int):
        super().__init__()
        self.attention = CadenzaPerformerAttention(config, layer_idx)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = CadenzaPerformerMLP(config)
        self.mlp_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        query_index: torch.LongTensor | None = None,
    ) -> torch.Tensor:
        residual = hidden_states if query_index is None else hidden_states[:, query_index]
        attended = self.attention(hidden_states, attention_mask, query_index)
        hidden_states = self.attention_norm(residual + self.dropout(attended))
        return self.mlp_norm(hidden_states + self.dropout(self.mlp(hidden_states)))


# Parameter names before issue 13 -> today's (the composer's). The fused `qkv_proj` is split in three.
LEGACY_RENAMES = {".attention.out_proj.": ".attention.o_proj.", ".mlp.fc1.": ".mlp.fc_in.", ".mlp.fc2.": ".mlp.fc_out."}


def is_legacy_state_dict(state_dict) -> bool:
    """Whether `state_dict` (or a list of its keys) uses the performer's names from before issue 13."""
    return any(".attention.qkv_proj." in key or ".mlp.fc1." in key for key in state_dict)


def convert_legacy_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a performer state dict from the pre-issue-13 names to today's.

    `attention.qkv_proj` (rows: query, key, value) becomes `q_proj`, `k_proj` and `v_proj`; `attention.out_proj`
    becomes `o_proj`; `mlp.fc1`/`mlp.fc2` become `mlp.fc_in`/`mlp.fc_out`. Other keys are kept; a state dict
    already in today's names comes back unchanged.
    """
    out = {}
    for key, tensor in state_dict.items():
        if ".attention.qkv_proj." in key:
            for name, part in zip(("q_proj", "k_proj", "v_proj"), tensor.chunk(3, dim=0)):
                out[key.replace("qkv_proj", name)] = part.contiguous()
            continue
        for old, new in LEGACY_RENAMES.items():
            key = key.replace(old, new)
        out[key] = tensor
    return out


class CadenzaPerformerPreTrainedModel(PreTrainedModel):
    """Shared weight initialisation and flags of the performer models."""

    config_class = CadenzaPerformerConfig
    base_model_prefix = "performer"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _no_split_modules = ["CadenzaPerformerEmbeddings", "CadenzaPerformerLayer"]
    # The loss is a plain mean over labelled tokens: Trainer must divide it by the accumulation steps itself.
    accepts_loss_kwargs = False

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`, refusing a checkpoint saved with the performer's parameter names from
        before issue 13 (fused `qkv_proj`, `fc1`/`fc2`) instead of returning a half-random model.

        Such a folder is converted once with `cadenza_hf.hub.legacy.convert_legacy_checkpoint(folder)`; the pipelines and
        the command line do that on the fly.
        """
        wants_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(pretrained_model_name_or_path, *args, output_loading_info=True, **kwargs)
        if is_legacy_state_dict(info.get("unexpected_keys", ())):
            raise ValueError(
                f"{pretrained_model_name_or_path}: performer saved with the parameter names of cadenza_hf 0.1 "
                "(attention.qkv_proj, mlp.fc1/fc2); convert it once with "
                "cadenza_hf.hub.legacy.convert_legacy_checkpoint(folder)"
            )
        return (model, info) if wants_info else model

    def _init_weights(self, module: nn.Module):
        """Normal(0, initializer_range) linears/embeddings, unit LayerNorms, and the sinusoidal table restored.

        The local-context convolution starts at Normal(0, 1/sqrt(width)), zero bias: a variance-preserving mix of
        the neighbours, loud enough next to the position table for a masked slot to see its note from step one
        (at 0.02 it stays invisible and training sits on the marginal plateau described in the config).
        """
        super()._init_weights(module)
        if isinstance(module, CadenzaPerformerEmbeddings):
            table = sinusoidal_position_table(*module.position_table.shape)
            init.copy_(module.position_table, table.to(module.position_table.device))
            if module.local_context is not None:
                init.normal_(module.local_context.weight, mean=0.0, std=module.local_context.kernel_size[0] ** -0.5)
                init.zeros_(module.local_context.bias)
            if module.dynamics is not None:  # zero: adding levels to a trained performer starts as a no-op
                init.zeros_(module.dynamics.weight)
            if module.metric is not None:  # zero, as the levels; the shift table is rebuilt from the config
                init.zeros_(module.metric.weight)
                init.copy_(module.shift_ticks, shift_tick_table(module.config).to(module.shift_ticks.device))


class CadenzaPerformerModel(CadenzaPerformerPreTrainedModel):
    """The bare performer encoder, returning the last hidden states (and optionally every layer's)."""

    def __init__(self, config: CadenzaPerformerConfig):
        super().__init__(config)
        self.embeddings = CadenzaPerformerEmbeddings(config)
        self.layers = nn.ModuleList(
            [CadenzaPerformerLayer(config, layer_idx) for layer_idx in range(config.num_hidden_layers)]
        )
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding):
        self.embeddings.word_embeddings = value

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        output_hidden_states: bool | None = None,
        level_ids: torch.LongTensor | None = None,
        output_positions: torch.LongTensor | None = None,
    ) -> BaseModelOutput:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`):
                PerTok ids with every performance slot set to `config.mask_token_id`.
            attention_mask (`torch.Tensor` of shape `(batch_size, sequence_length)`, *optional*):
                1 for real tokens, 0 for padding (padding is never attended to).
            position_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
                Rows of the sinusoidal table to use; defaults to `0 .. sequence_length - 1`.
            output_hidden_states (`bool`, *optional*):
                Also return the embedding output and every layer's output.
            level_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
                1 + the dynamics level of each token's bar, 0 where unknown (only with `config.dynamics_levels`).
            output_positions (`torch.LongTensor` of shape `(num_positions,)`, *optional*):
                Increasing sequence positions whose last hidden states are wanted: the last layer then computes only
                those (every earlier layer still runs on all positions, whose keys and values the last one reads), and
                `last_hidden_state` is `(batch_size, num_positions, hidden_size)`. As `logits_to_keep` for causal
                models, it saves the work for outputs nobody reads, e.g. the slots a decoding pass leaves masked.
        """
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        hidden_states = self.embeddings(input_ids, position_ids, attention_mask, level_ids)  # (B, T, hidden)
        attention_mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=hidden_states, attention_mask=attention_mask
        )  # None when nothing is padded; otherwise a backend-specific (B, 1, T, T) mask
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        last = len(self.layers) - 1  # the config requires at least one layer
        for index, layer in enumerate(self.layers):
            hidden_states = layer(hidden_states, attention_mask, output_positions if index == last else None)
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
        return BaseModelOutput(last_hidden_state=hidden_states, hidden_states=all_hidden_states)


class CadenzaPerformerForMaskedLM(CadenzaPerformerPreTrainedModel):
    r"""
    Performer encoder with the tied output projection; predicts the token at every masked performance slot.

    Example:

    ```python
    >>> import torch
    >>> from cadenza_hf.modeling.performer import CadenzaPerformerConfig, CadenzaPerformerForMaskedLM

    >>> config = CadenzaPerformerConfig(
    ...     vocab_size=32, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
    ...     velocity_token_ids=[10, 11], microtiming_token_ids=[20, 21],
    ... )
    >>> model = CadenzaPerformerForMaskedLM(config).eval()
    >>> ids = torch.tensor([[30, 3, 3, 31]])  # pitch, [MASK] (velocity), [MASK] (microtiming), duration
    >>> velocity_slots = torch.tensor([[False, True, False, False]])
    >>> microtiming_slots = torch.tensor([[False, False, True, False]])
    >>> filled = model.fill_performance(ids, velocity_positions=velocity_slots, microtiming_positions=microtiming_slots)
    >>> filled[0, 1].item() in config.velocity_token_ids, filled[0, 2].item() in config.microtiming_token_ids
    (True, True)

    ```
    """

    _tied_weights_keys = {"lm_head.weight": "performer.embeddings.word_embeddings.weight"}

    def __init__(self, config: CadenzaPerformerConfig):
        super().__init__(config)
        self.performer = CadenzaPerformerModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size)  # weight tied, bias free
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, new_embeddings: nn.Linear):
        self.lm_head = new_embeddings

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        output_hidden_states: bool | None = None,
        level_ids: torch.LongTensor | None = None,
        output_positions: torch.LongTensor | None = None,
    ) -> MaskedLMOutput:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`):
                PerTok ids with every performance slot set to `config.mask_token_id`.
            attention_mask (`torch.Tensor` of shape `(batch_size, sequence_length)`, *optional*):
                1 for real tokens, 0 for padding.
            position_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
                Rows of the sinusoidal table to use; defaults to `0 .. sequence_length - 1`.
            labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
                The true performance token at each masked slot and -100 everywhere else; the loss is the mean
                cross-entropy over the labelled positions only.
            output_hidden_states (`bool`, *optional*):
                Also return the embedding output and every layer's output.
            level_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
                1 + the dynamics level of each token's bar, 0 where unknown (only with `config.dynamics_levels`).
            output_positions (`torch.LongTensor` of shape `(num_positions,)`, *optional*):
                Increasing positions whose logits are wanted (see `CadenzaPerformerModel.forward`): `logits` is then
                `(batch_size, num_positions, vocab_size)`, and `labels`, if given, are read at those positions.
        """
        outputs = self.performer(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            output_hidden_states=output_hidden_states,
            level_ids=level_ids,
            output_positions=output_positions,
        )
        logits = self.lm_head(outputs.last_hidden_state)  # (B, T, vocab), or (B, num_positions, vocab)
        loss = None
        if labels is not None:
            if output_positions is not None:
                labels = labels[:, output_positions]
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)

    @torch.no_grad()
    def fill_performance(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        velocity_positions: torch.BoolTensor | None = None,
        microtiming_positions: torch.BoolTensor | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
        point_estimate: str = "argmax",
        steps: int = 1,
        order: str | None = None,
        level_ids: torch.LongTensor | None = None,
        schedule: str | None = None,
    ) -> torch.LongTensor:
        r"""
        Predict every velocity and microtiming slot: in one bidirectional forward pass (`steps=1`, paper §3.2), or
        by iterative unmasking (`steps > 1`, as MaskGIT): every pass predicts the slots still masked, commits a
        share of them (`schedule`: few at first, or the same share each pass), and the next pass reads the
        committed values, so later notes agree with earlier choices instead of each being an independent draw
        from its marginal. Iterative decoding needs a performer trained with partly masked inputs
        (`PerformerCollator(min_mask_ratio < 1)`); one trained only at 100% never saw a filled slot.

        Slots are set to `config.mask_token_id` before the forward pass, so either the masked sequence or the
        original performance may be passed. Each velocity slot receives an id from `config.velocity_token_ids`
        and each microtiming slot one from `config.microtiming_token_ids`; every other position is copied
        unchanged. Call `model.eval()` first (as for `generate`): dropout is left as the module's mode says.

        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`):
                PerTok ids.
            attention_mask (`torch.Tensor` of shape `(batch_size, sequence_length)`, *optional*):
                1 for real tokens, 0 for padding.
            velocity_positions (`torch.BoolTensor` of shape `(batch_size, sequence_length)`):
                True at velocity slots. Required: the tokenizer knows the slots, the model cannot guess them.
            microtiming_positions (`torch.BoolTensor` of shape `(batch_size, sequence_length)`):
                True at microtiming slots. Required; must not overlap `velocity_positions`.
            temperature (`float`, *optional*, defaults to 0.0):
                0 picks the most likely allowed token; > 0 samples from the allowed tokens at this temperature.
            top_p (`float`, *optional*, defaults to 1.0):
                Nucleus sampling: sample only among the most likely allowed tokens whose probability sums to `top_p`.
            generator (`torch.Generator`, *optional*):
                Random generator for reproducible sampling (on the model's device).
            point_estimate (`str`, *optional*, defaults to `"argmax"`):
                What `temperature=0` picks per slot: `"argmax"`, the most likely bin, or `"median"`, the bin where the
                slot's cumulative probability (over its family, in the config's increasing-value order) first
                reaches one half. The median minimises the expected absolute error, so it is the estimate to use
                when performances are scored by MAE; the argmax of a wide or two-peaked distribution (a drum hit
                that is either a ghost note or an accent) can sit far from most of its mass. `"mean"`: the bin
                nearest the slot's expected bin index (the least squared error); where every note's distribution
                has the same mode it still follows each note's shift of mass, so the dynamics keep their shape.
            steps (`int`, *optional*, defaults to 1):
                Forward passes; 1 is one-shot decoding, at most one pass per slot is useful.
            order (`str`, *optional*, defaults to `config.unmask_order`):
                With `steps > 1`, which masked slots each pass commits: `"confidence"`, those whose chosen token is
                most probable (when sampling, ranked with Gumbel noise scaled by the temperature, so the order is
                itself sampled), `"sequence"`, the earliest in the sequence (note order), or `"interleaved"`,
                notes spread (roughly evenly) over the excerpt first and then the middles of the gaps between
                committed notes (bit-reversed note order), so that most notes are drawn between neighbours already
                chosen.
            level_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
                Per-token dynamics levels (see `forward`): drawn by `sample_level_ids`, or read off a performance
                being kept.
            schedule (`str`, *optional*, defaults to `config.unmask_schedule`):
                With `steps > 1`, how many slots each pass commits: `"cosine"` (MaskGIT: after pass `k` of `steps`, a
                share `cos(pi/2 * k/steps)` of each row's slots is still masked) or `"linear"` (`1 - k/steps`).

        Returns:
            `torch.LongTensor` of shape `(batch_size, sequence_length)`: a filled copy of `input_ids`.
        """
        slots = self._check_slots(input_ids, velocity_positions, microtiming_positions, temperature, top_p)
        if point_estimate not in POINT_ESTIMATES:
            raise ValueError(f"`point_estimate` must be one of {POINT_ESTIMATES}, got {point_estimate!r}.")
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise ValueError(f"`steps` must be a positive int, got {steps!r}.")
        order = self.config.unmask_order if order is None else order
        if order not in UNMASK_ORDERS:
            raise ValueError(f"`order` must be one of {UNMASK_ORDERS}, got {order!r}.")
        schedule = self.config.unmask_schedule if schedule is None else schedule
        if schedule not in UNMASK_SCHEDULES:
            raise ValueError(f"`schedule` must be one of {UNMASK_SCHEDULES}, got {schedule!r}.")
        filled = input_ids.masked_fill(slots, self.config.mask_token_id)
        remaining = slots.clone()  # (B, T) slots still masked
        # In note order and interleaved order, which slots each pass commits is fixed before it runs (highest first)
        fixed = None
        if order == "sequence":
            fixed = torch.arange(slots.shape[1], device=slots.device).neg().expand_as(slots)
        elif order == "interleaved":
            fixed = _interleaved_priority(slots, velocity_positions)
        total = slots.sum(-1)  # (B,) slots per row
        for step in range(steps):
            to_commit = remaining.sum(-1)  # (B,) the last pass commits every slot left
            if step < steps - 1:  # minus the slots of each row the schedule leaves masked after this pass
                done = (step + 1) / steps
                left = math.cos(math.pi / 2 * done) if schedule == "cosine" else 1 - done
                to_commit = to_commit - torch.floor(total * left).long()
            if not (to_commit > 0).any():
                continue  # a pass that commits nothing changes nothing
            # With a fixed order the pass's commits are known before it runs, so only they are predicted; confidence
            # order ranks every slot still masked (its last pass commits them all).
            commit = None
            if fixed is not None or step == steps - 1:
                rank_by = fixed if fixed is not None else torch.zeros(remaining.shape, device=remaining.device)
                commit = remaining & (_rank(rank_by, remaining) < to_commit[:, None])
            wanted = remaining if commit is None else commit  # (B, T) slots this pass predicts
            columns = wanted.any(0).nonzero().squeeze(-1)  # positions any row wants; the last layer computes only these
            logits = self(filled, attention_mask=attention_mask, level_ids=level_ids, output_positions=columns).logits
            logits = logits[wanted[:, columns]].float()  # (N, vocab), row-major over `wanted`
            choice, confidence = self._choose(
                logits, velocity_positions[wanted], temperature, top_p, generator, point_estimate
            )
            if commit is None:
                rank_by = torch.zeros(remaining.shape, device=logits.device)
                rank_by[wanted] = confidence.log()
                if temperature > 0:
                    rank_by = rank_by + temperature * _gumbel(rank_by.shape, generator, rank_by.device)
                commit = remaining & (_rank(rank_by, remaining) < to_commit[:, None])
            chosen = torch.full(remaining.shape, -1, dtype=torch.long, device=logits.device)
            chosen[wanted] = choice
            filled = torch.where(commit, chosen.to(filled.dtype), filled)
            remaining = remaining & ~commit
            if not remaining.any():
                break
        return filled

    def sample_level_ids(
        self, bar_ids: torch.LongTensor, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.LongTensor:
        """Draw one dynamics level per bar for each row and spread it over the bar's tokens; `(B, T)` level ids.

        The first bar's level comes from `config.dynamics_start_probs`, each next bar adds a change drawn from
        `config.dynamics_step_probs` (a random walk, clipped to the levels), both sharpened by `temperature`; at
        temperature 0 every bar gets the most common first level. Padding (`bar_ids < 0`) gets 0 (unknown).
        """
        config = self.config
        if not (config.dynamics_levels and config.dynamics_start_probs and config.dynamics_step_probs):
            raise ValueError("This performer has no dynamics-level distributions (`config.dynamics_*_probs`).")
        device = bar_ids.device
        start = torch.tensor(config.dynamics_start_probs, dtype=torch.float, device=device)
        step = torch.tensor(config.dynamics_step_probs, dtype=torch.float, device=device)
        rows, bars = bar_ids.shape[0], int(bar_ids.max().clamp(min=0)) + 1
        if temperature == 0:
            per_bar = start.argmax().expand(rows, bars)
        else:
            start, step = start ** (1 / temperature), step ** (1 / temperature)
            first = torch.multinomial(start, rows, replacement=True, generator=generator)  # (B,)
            changes = torch.multinomial(step, rows * (bars - 1), replacement=True, generator=generator)
            changes = changes.view(rows, bars - 1) - (len(config.dynamics_step_probs) - 1) // 2
            per_bar = first[:, None] + torch.cat([changes.new_zeros(rows, 1), changes], 1).cumsum(1)
        per_bar = per_bar.clamp(0, config.dynamics_levels - 1) + 1  # (B, bars), 0 is "unknown"
        levels = per_bar.gather(1, bar_ids.clamp(min=0))
        return levels.masked_fill(bar_ids < 0, 0)

    def _choose(self, logits, is_velocity, temperature, top_p, generator, point_estimate):
        """Pick one token per slot row of `logits` `(N, vocab)`; return ids `(N,)` and their probabilities `(N,)`
        under the slot's family distribution (untempered)."""
        allowed = self._allowed_tokens(is_velocity, logits.shape[-1], logits.device)  # (N, vocab)
        logits = logits.masked_fill(~allowed, float("-inf"))
        if temperature == 0 and point_estimate != "argmax":
            choice = self._family_estimate(logits, is_velocity, point_estimate)
        else:
            choice = logits.argmax(-1) if temperature == 0 else _sample(logits / temperature, top_p, generator)  # (N,)
        confidence = logits.softmax(-1).gather(-1, choice[:, None]).squeeze(-1)
        return choice, confidence

    def _check_slots(self, input_ids, velocity_positions, microtiming_positions, temperature, top_p):
        """Validate the slot masks and sampling knobs; return the union of the slots, `(B, T)` bool."""
        if velocity_positions is None or microtiming_positions is None:
            raise ValueError(
                "fill_performance needs both `velocity_positions` and `microtiming_positions` (bool masks shaped "
                "like input_ids); build them with the tokenizer, the model cannot tell which slots are which."
            )
        named_masks = (("velocity_positions", velocity_positions), ("microtiming_positions", microtiming_positions))
        for name, mask in named_masks:
            if mask.shape != input_ids.shape or mask.dtype != torch.bool:
                raise ValueError(
                    f"`{name}` must be a bool tensor of shape {tuple(input_ids.shape)}, "
                    f"got {mask.dtype} {tuple(mask.shape)}."
                )
        if (velocity_positions & microtiming_positions).any():
            raise ValueError("`velocity_positions` and `microtiming_positions` overlap; a slot has one family.")
        for name, mask in (("velocity", velocity_positions), ("microtiming", microtiming_positions)):
            if mask.any() and not getattr(self.config, f"{name}_token_ids"):
                raise ValueError(f"There are {name} slots but `config.{name}_token_ids` is empty.")
        if temperature < 0 or not 0.0 < top_p <= 1.0:
            raise ValueError(f"Need temperature >= 0 and 0 < top_p <= 1, got temperature={temperature}, top_p={top_p}.")
        return velocity_positions | microtiming_positions

    def _family_estimate(self, logits: torch.Tensor, is_velocity: torch.BoolTensor, estimate: str) -> torch.LongTensor:
        """Per slot, the family token at which the cumulative probability first reaches 1/2 (`"median"`) or the one
        nearest the expected bin index (`"mean"`); `(N,)` ids."""
        choice = torch.empty(logits.shape[0], dtype=torch.long, device=logits.device)
        for family_ids, rows in (
            (self.config.velocity_token_ids, is_velocity),
            (self.config.microtiming_token_ids, ~is_velocity),
        ):
            if not rows.any():
                continue
            family = torch.tensor(family_ids, dtype=torch.long, device=logits.device)  # increasing value order
            probs = logits[rows][:, family].softmax(-1)  # (n, family)
            if estimate == "median":
                index = (probs.cumsum(-1) < 0.5).sum(-1)  # first bin reaching 1/2
            else:
                bins = torch.arange(len(family_ids), device=logits.device, dtype=probs.dtype)
                index = (probs * bins).sum(-1).round().long()
            choice[rows] = family[index.clamp(max=len(family_ids) - 1)]
        return choice

    def _allowed_tokens(self, is_velocity: torch.BoolTensor, vocab_size: int, device) -> torch.BoolTensor:
        """Per-slot allowed-token mask `(N, vocab)`: the velocity family where `is_velocity`, else microtiming."""
        families = torch.zeros(2, vocab_size, dtype=torch.bool, device=device)  # row 0 microtiming, row 1 velocity
        families[0, self.config.microtiming_token_ids] = True
        families[1, self.config.velocity_token_ids] = True
        return families[is_velocity.long()]


def _interleaved_priority(slots: torch.BoolTensor, velocity_positions: torch.BoolTensor) -> torch.Tensor:
    """`(B, T)` commit priority of each slot (highest first) for `order="interleaved"`: the `k`-th slot of a family
    (velocity or microtiming) in its row gets minus the bit-reversal of `k` (van der Corput: notes 0, 8, 4, 12, 2,
    ... of 16), so a note's two slots share a priority, the first passes spread their commits (roughly) evenly
    over the excerpt, and each later pass fills the middle of the gaps left."""
    priority = torch.zeros(slots.shape, dtype=torch.float, device=slots.device)
    for family in (slots & velocity_positions, slots & ~velocity_positions):
        k = family.long().cumsum(-1) - 1  # (B, T) index of each slot among its family's slots
        reversed_bits = torch.zeros_like(k)
        for bit in range(_ORDER_BITS):
            reversed_bits |= ((k >> bit) & 1) << (_ORDER_BITS - 1 - bit)
        priority = torch.where(family, -reversed_bits.float(), priority)
    return priority


# interleaved order reverses this many bits of a slot's index among its family's slots: distinct priorities (exact in
# float32) for up to 2**20 slots of a family in a row, far beyond max_position_embeddings (1024 by default)
_ORDER_BITS = 20


def _rank(score: torch.Tensor, among: torch.BoolTensor) -> torch.LongTensor:
    """`(B, T)`: each position's rank by `score` (0 = highest) among the True positions of its row of `among`;
    the other positions rank after them."""
    score = score.float().masked_fill(~among, float("-inf"))
    return score.argsort(dim=-1, descending=True, stable=True).argsort(dim=-1)


def _gumbel(shape, generator: torch.Generator | None, device) -> torch.Tensor:
    """Standard Gumbel noise of `shape` (drawn with `generator`)."""
    uniform = torch.rand(shape, generator=generator, device=device).clamp(1e-9, 1 - 1e-9)
    return -torch.log(-torch.log(uniform))


def _sample(logits: torch.Tensor, top_p: float, generator: torch.Generator | None) -> torch.LongTensor:
    """Draw one id per row of `logits` `(N, vocab)` (already tempered and masked with -inf), with top-p filtering."""
    probs = logits.softmax(-1)  # (N, vocab)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(-1, descending=True)
        # drop a token when the mass before it already reaches top_p (the most likely token always survives)
        drop_sorted = sorted_probs.cumsum(-1) - sorted_probs >= top_p
        probs = probs.masked_fill(torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted), 0.0)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


__all__ = [
    "POINT_ESTIMATES",
    "UNMASK_ORDERS",
    "CadenzaPerformerForMaskedLM",
    "CadenzaPerformerModel",
    "CadenzaPerformerPreTrainedModel",
    "convert_legacy_state_dict",
    "is_legacy_state_dict",
    "sinusoidal_position_table",
]
