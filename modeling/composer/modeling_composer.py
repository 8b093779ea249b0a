"""PyTorch Cadenza composer: a transformer VAE with in-attention latent conditioning (paper §3.1).

The encoder reads a token sequence bidirectionally and summarises it, at its first token, into a diagonal Gaussian
q(z|x). The decoder is a causal transformer that adds `W_pre z` to its hidden state before every layer (eq. 5) and
predicts the sequence token by token. Both stacks use rotary position embeddings (eq. 1) and share one token
embedding, which is tied to the output projection.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache, DynamicCache
from transformers.masking_utils import create_bidirectional_mask, create_causal_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS, dynamic_rope_update
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS, slice_logits_to_keep
from transformers.utils import ModelOutput

from .configuration_composer import CadenzaComposerConfig

LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0  # keeps exp(logvar) finite in float32 (as diffusers' DiagonalGaussian)


def _randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


@dataclass
class LatentDistribution:
    """
    Diagonal Gaussian posterior q(z|x) returned by [`CadenzaComposerModel.encode`].

    Args:
        mean (`torch.Tensor` of shape `(batch_size, latent_size)`):
            Posterior mean `mu`.
        logvar (`torch.Tensor` of shape `(batch_size, latent_size)`):
            Posterior log-variance `log(sigma^2)`, clamped to [-30, 20].
    """

    mean: torch.Tensor
    logvar: torch.Tensor

    @property
    def std(self) -> torch.Tensor:
        """Standard deviation `sigma = exp(logvar / 2)`."""
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Reparameterised sample `mu + sigma * eps`, `eps ~ N(0, I)` (paper eq. 2); differentiable in mu and sigma."""
        return self.mean + self.std * _randn_like(self.mean, generator)

    def mode(self) -> torch.Tensor:
        """The most likely latent, i.e. the posterior mean."""
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q(z_k|x) || N(0, 1)) per example and latent dimension, shape `(batch_size, latent_size)` (eq. 3)."""
        return -0.5 * (1.0 + self.logvar - self.mean.pow(2) - self.logvar.exp())


@dataclass
class ComposerOutput(ModelOutput):
    """
    Output of [`CadenzaComposerModel.forward`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            `reconstruction_loss + model.kl_beta * kl_loss` (eq. 7), plus `config.bow_loss_weight * bow_loss` when
            that weight is set; returned when `labels` are given. Equal to `reconstruction_loss` when the latent was
            passed in (no posterior, no KL).
        logits (`torch.FloatTensor` of shape `(batch_size, sequence_length, vocab_size)`):
            Next-token scores of the decoder (only the last `logits_to_keep` positions if that is non-zero).
        reconstruction_loss (`torch.FloatTensor` of shape `()`, *optional*):
            Token negative log-likelihood of the shifted `labels`, reduced as `config.reconstruction_reduction` says.
        kl_loss (`torch.FloatTensor` of shape `()`, *optional*):
            `sum_k max(free_bits, KL_k)` with `KL_k` the batch-mean KL of latent dimension `k` (eq. 4): after free
            bits, before `beta`. Present whenever the encoder ran.
        kl_loss_raw (`torch.FloatTensor` of shape `()`, *optional*):
            `sum_k KL_k`, the KL without free bits (eq. 3, averaged over the batch); for monitoring.
        bow_loss (`torch.FloatTensor` of shape `()`, *optional*):
            Bag-of-words negative log-likelihood of the shifted `labels` given `z` alone, reduced like the
            reconstruction; present when `config.bow_loss_weight > 0`, the encoder ran and `labels` are given.
        latent_mean (`torch.FloatTensor` of shape `(batch_size, latent_size)`, *optional*):
            Posterior mean `mu`.
        latent_logvar (`torch.FloatTensor` of shape `(batch_size, latent_size)`, *optional*):
            Posterior log-variance.
        latent (`torch.FloatTensor` of shape `(batch_size, latent_size)`):
            The latent `z` the decoder was conditioned on.
        cache (`Cache`, *optional*):
            Key/value cache of the decoder's self-attention layers, for fast generation.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    reconstruction_loss: torch.FloatTensor | None = None
    kl_loss: torch.FloatTensor | None = None
    kl_loss_raw: torch.FloatTensor | None = None
    bow_loss: torch.FloatTensor | None = None
    latent_mean: torch.FloatTensor | None = None
    latent_logvar: torch.FloatTensor | None = None
    latent: torch.FloatTensor | None = None
    cache: Cache | None = None


def _position_ids(
    attention_mask: torch.Tensor | None, seq_len: int, past_len: int, device: torch.device
) -> torch.LongTensor:
    """Positions of the last `seq_len` tokens: counted over real tokens only, so left padding does not shift them."""
    if attention_mask is None:
        return torch.arange(past_len, past_len + seq_len, device=device).unsqueeze(0)  # (1, T)
    positions = attention_mask.long().cumsum(-1) - 1  # (B, past + T)
    return positions.masked_fill(attention_mask == 0, 0)[:, -seq_len:]  # (B, T)


class CadenzaComposerRotaryEmbedding(nn.Module):
    """Rotary position embedding (paper eq. 1): maps positions to the cos/sin tables that rotate q and k."""

    inv_freq: torch.Tensor

    def __init__(self, config: CadenzaComposerConfig):
        super().__init__()
        self.config = config
        self.rope_type = config.rope_parameters["rope_type"]
        self.max_seq_len_cached = config.max_position_embeddings  # read by `dynamic_rope_update`
        self.original_max_seq_len = config.max_position_embeddings
        inv_freq, self.attention_scaling = self.rope_init_fn(config)
        # Not persistent: recomputed from the config, and restored by `_init_weights` after `from_pretrained`.
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.register_buffer("original_inv_freq", inv_freq.clone(), persistent=False)

    @property
    def rope_init_fn(self) -> Callable:
        if self.rope_type == "default":
            return self.compute_default_rope_parameters
        return ROPE_INIT_FUNCTIONS[self.rope_type]

    @staticmethod
    def compute_default_rope_parameters(config: CadenzaComposerConfig, *args, **kwargs) -> tuple[torch.Tensor, float]:
        """Inverse frequencies `theta^(-2i/head_dim)` of the original RoPE, and an attention scaling of 1."""
        base, dim = config.rope_parameters["rope_theta"], config.head_dim
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))  # (head_dim / 2,)
        return inv_freq, 1.0

    @torch.no_grad()
    @dynamic_rope_update
    def forward(self, x: torch.Tensor, position_ids: torch.LongTensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(cos, signed_sin)` tables of shape (B, T, head_dim); `signed_sin` is sin with its first half negated,
        the form [`apply_rotary_pos_emb`] takes."""
        inv_freq = self.inv_freq.to(device=x.device, dtype=torch.float)
        freqs = position_ids[..., None].float() * inv_freq  # (B, T, head_dim / 2)
        cos, sin = freqs.cos() * self.attention_scaling, freqs.sin() * self.attention_scaling
        return torch.cat((cos, cos), dim=-1).to(x.dtype), torch.cat((-sin, sin), dim=-1).to(x.dtype)


def swap_halves(x: torch.Tensor) -> torch.Tensor:
    """`[x1, x2] -> [x2, x1]` along the last dimension, in one kernel."""
    return x.unflatten(-1, (2, -1)).flip(-2).flatten(-2)


def apply_rotary_pos_emb(q, k, cos, signed_sin, unsqueeze_dim=1):
    """
    RoPE on q and k of shape (B, H, T, head_dim), with `cos` and `signed_sin` of shape (B, T, head_dim) from
    [`CadenzaComposerRotaryEmbedding`]. Equal to the textbook `x * cos + rotate_half(x) * sin` with
    `rotate_half([x1, x2]) = [-x2, x1]`, because `rotate_half(x) * sin == swap_halves(x) * signed_sin`. Rotating
    q and k stacked, with the sign folded into the table once per forward, takes half the kernels, which matters
    when generating one token at a time.
    """
    cos, signed_sin = cos.unsqueeze(unsqueeze_dim), signed_sin.unsqueeze(unsqueeze_dim)
    qk = torch.stack((q, k))  # (2, B, H, T, head_dim)
    qk = qk * cos + swap_halves(qk) * signed_sin
    return qk[0], qk[1]


def rotate(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """RoPE on one tensor of shape (B, H, T, head_dim) (see [`apply_rotary_pos_emb`] for the tables)."""
    return x * cos.unsqueeze(1) + swap_halves(x) * signed_sin.unsqueeze(1)


def eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """Reference attention, used when `config._attn_implementation == "eager"`."""
    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling  # (B, H, Tq, Tk)
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = F.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)
    attn_weights = F.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value).transpose(1, 2).contiguous()  # (B, Tq, H, head_dim)
    return attn_output, attn_weights


class CadenzaComposerAttention(nn.Module):
    """Multi-head self-attention with RoPE on q and k, dispatched to the configured attention backend."""

    def __init__(self, config: CadenzaComposerConfig, layer_idx: int, is_causal: bool):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.is_causal = is_causal  # read by the sdpa/flash backends
        self.head_dim = config.head_dim
        self.num_key_value_groups = 1  # plain multi-head attention (no GQA); read by the backends
        self.scaling = self.head_dim**-0.5
        self.q_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.k_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.v_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.o_proj = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
    ) -> torch.Tensor:
        input_shape = hidden_states.shape[:-1]  # (B, T)
        hidden_shape = (*input_shape, -1, self.head_dim)  # (B, T, H, head_dim)
        query = self.q_proj(hidden_states).view(hidden_shape).transpose(1, 2)  # (B, H, T, head_dim)
        key = self.k_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        value = self.v_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        query, key = apply_rotary_pos_emb(query, key, *position_embeddings)
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx)  # (B, H, past + T, head_dim)

        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        attn_output, _ = attention_interface(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=self.config.attention_dropout if self.training else 0.0,
            scaling=self.scaling,
        )
        return self.o_proj(attn_output.reshape(*input_shape, -1))  # (B, T, hidden)


class CadenzaComposerIdeaAttention(nn.Module):
    """Cross-attention from the decoder to the encoded idea (token-level encoder states).

    Queries are rotated with the decoder positions and keys with the idea's token positions (RoPE), so a score
    depends on the offset between "where I am writing" and "where that token sits in the idea": with masks kept in
    place, copying the idea is attending at offset 0, which a small decoder learns quickly (without positions, the
    encoder's states carry none and copying has to be found by content alone).

    In eval mode the keys and values of the last `idea_states` tensor are kept, so that `generate()`, which passes
    the same tensor at every step, projects the idea once per call instead of once per token.
    """

    def __init__(self, config: CadenzaComposerConfig):
        super().__init__()
        self.config = config
        self.head_dim = config.head_dim
        self.q_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.k_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.v_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.o_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self._kept: tuple | None = None  # (idea_states, key, value), eval only

    def _key_value(self, idea_states: torch.Tensor, idea_positions) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.training and self._kept is not None and self._kept[0] is idea_states:
            return self._kept[1], self._kept[2]
        shape = (*idea_states.shape[:-1], -1, self.head_dim)  # (B, S, H, head_dim)
        key = rotate(self.k_proj(idea_states).view(shape).transpose(1, 2), *idea_positions)  # (B, H, S, head_dim)
        value = self.v_proj(idea_states).view(shape).transpose(1, 2)
        self._kept = None if self.training else (idea_states, key, value)
        return key, value

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        idea_states: torch.Tensor,
        idea_position_embeddings: tuple[torch.Tensor, torch.Tensor],
        idea_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        input_shape = hidden_states.shape[:-1]  # (B, T)
        query = self.q_proj(hidden_states).view(*input_shape, -1, self.head_dim).transpose(1, 2)  # (B, H, T, hd)
        query = rotate(query, *position_embeddings)
        key, value = self._key_value(idea_states, idea_position_embeddings)
        if key.shape[0] != query.shape[0]:  # beams or several samples per idea: repeat the idea
            repeat = query.shape[0] // key.shape[0]
            key, value = key.repeat_interleave(repeat, 0), value.repeat_interleave(repeat, 0)
            idea_mask = idea_mask.repeat_interleave(repeat, 0) if idea_mask is not None else None
        mask = None if idea_mask is None else idea_mask.bool()[:, None, None, :]  # (B, 1, 1, S): True = attend
        dropout = self.config.attention_dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout)
        return self.o_proj(out.transpose(1, 2).reshape(*input_shape, -1))  # (B, T, hidden)


class CadenzaComposerMLP(nn.Module):
    """Position-wise feed-forward block: Linear -> GELU -> Linear."""

    def __init__(self, config: CadenzaComposerConfig):
        super().__init__()
        self.fc_in = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = nn.GELU()
        self.fc_out = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc_out(self.act(self.fc_in(hidden_states)))


class CadenzaComposerLayer(GradientCheckpointingLayer):
    """Pre-LayerNorm transformer block; bidirectional in the encoder, causal (`is_causal=True`) in the decoder."""

    def __init__(self, config: CadenzaComposerConfig, layer_idx: int, is_causal: bool, idea_attention: bool = False):
        super().__init__()
        self.attn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.self_attn = CadenzaComposerAttention(config, layer_idx, is_causal)
        if idea_attention:
            self.idea_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
            self.idea_attn = CadenzaComposerIdeaAttention(config)
        self.mlp_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = CadenzaComposerMLP(config)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        idea_states: torch.Tensor | None = None,
        idea_mask: torch.Tensor | None = None,
        idea_position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        attn_out = self.self_attn(self.attn_norm(hidden_states), position_embeddings, attention_mask, cache=cache)
        hidden_states = hidden_states + self.dropout(attn_out)
        if idea_states is not None:
            idea_out = self.idea_attn(
                self.idea_norm(hidden_states), position_embeddings, idea_states, idea_position_embeddings, idea_mask
            )
            hidden_states = hidden_states + self.dropout(idea_out)
        return hidden_states + self.dropout(self.mlp(self.mlp_norm(hidden_states)))


class CadenzaComposerEncoder(nn.Module):
    """Bidirectional stack; returns h, the final normalised hidden state at the first (non-pad) timestep, and the
    normalised hidden states of every timestep (what an idea-attention decoder reads)."""

    def __init__(self, config: CadenzaComposerConfig):
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(
            [CadenzaComposerLayer(config, i, is_causal=False) for i in range(config.num_encoder_layers)]
        )
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor | None,
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mask = create_bidirectional_mask(self.config, inputs_embeds, attention_mask)
        hidden_states = inputs_embeds  # (B, T, hidden)
        for layer in self.layers:
            hidden_states = layer(hidden_states, position_embeddings, attention_mask=mask)
        hidden_states = self.norm(hidden_states)
        if attention_mask is None:
            return hidden_states[:, 0], hidden_states  # (B, hidden), (B, T, hidden)
        first = attention_mask.long().argmax(-1)  # index of the first real token: 0 unless left-padded
        pooled = hidden_states[torch.arange(hidden_states.shape[0], device=first.device), first]  # (B, hidden)
        return pooled, hidden_states


class CadenzaComposerDecoder(nn.Module):
    """Causal stack with in-attention conditioning: `H_i = Layer_i(H_{i-1} + W_pre z)` (paper eq. 5)."""

    def __init__(self, config: CadenzaComposerConfig):
        super().__init__()
        self.config = config
        self.latent_proj = nn.Linear(config.latent_size, config.hidden_size)  # W_pre
        self.layers = nn.ModuleList(
            [
                CadenzaComposerLayer(config, i, is_causal=True, idea_attention=config.idea_attention)
                for i in range(config.num_decoder_layers)
            ]
        )
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(
        self,
        inputs_embeds: torch.Tensor,
        latent: torch.Tensor,
        attention_mask: torch.Tensor | None,
        position_ids: torch.LongTensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        cache: Cache | None = None,
        idea_states: torch.Tensor | None = None,
        idea_mask: torch.Tensor | None = None,
        idea_position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        mask = create_causal_mask(self.config, inputs_embeds, attention_mask, cache, position_ids)
        latent_pre = self.latent_proj(latent)[:, None, :]  # (B, 1, hidden), broadcast over time
        hidden_states = inputs_embeds  # (B, T, hidden)
        for layer in self.layers:
            hidden_states = layer(
                hidden_states + latent_pre,
                position_embeddings,
                attention_mask=mask,
                cache=cache,
                idea_states=idea_states,
                idea_mask=idea_mask,
                idea_position_embeddings=idea_position_embeddings,
            )
        return self.norm(hidden_states)


class CadenzaComposerPreTrainedModel(PreTrainedModel):
    """Weight initialisation and the transformers plumbing (config class, attention backends, checkpointing)."""

    config: CadenzaComposerConfig
    config_class = CadenzaComposerConfig
    base_model_prefix = "composer"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["CadenzaComposerLayer"]
    _supports_sdpa = True

    def _init_weights(self, module: nn.Module):
        """Normal(0, initializer_range) linears and embeddings, unit LayerNorms, and RoPE tables from the config."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
            # checked here because slicing the weight drops its `_is_hf_initialized` flag
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, CadenzaComposerRotaryEmbedding):
            # Non-persistent buffers are not in the checkpoint and come back as garbage from the meta device.
            inv_freq, _ = module.rope_init_fn(module.config)
            init.copy_(module.inv_freq, inv_freq)
            init.copy_(module.original_inv_freq, inv_freq)


class CadenzaComposerModel(CadenzaComposerPreTrainedModel, GenerationMixin):
    """
    The Cadenza composer VAE (paper §3.1): encoder, Gaussian latent, in-attention decoder and a tied LM head.

    Training: `model(input_ids, attention_mask, labels=input_ids_with_pads_as_-100)` encodes the sequence, samples
    `z` by reparameterisation, reconstructs the sequence and returns `loss = recon + model.kl_beta * kl_loss`.
    Generation: `model.generate(input_ids=bos_ids, latent=z, max_new_tokens=...)`, with `z` from [`encode`],
    [`sample_latent`] or [`sample_prior`].

    Example:

    ```python
    >>> import torch
    >>> from cadenza_hf.modeling.composer import CadenzaComposerConfig, CadenzaComposerModel

    >>> model = CadenzaComposerModel(CadenzaComposerConfig.from_preset("small")).eval()
    >>> ids = torch.randint(3, 320, (1, 16))
    >>> z = model.sample_latent(model.encode(ids), variation_strength=0.3)
    >>> out = model.generate(input_ids=ids[:, :1], latent=z, max_new_tokens=8, min_new_tokens=8, do_sample=False)
    >>> out.shape
    torch.Size([1, 9])

    ```
    """

    _tied_weights_keys = {"lm_head.weight": "embed_tokens.weight"}
    # forward() takes **kwargs, but its loss is already normalised: let the Trainer divide by the GA steps.
    accepts_loss_kwargs = False

    def __init__(self, config: CadenzaComposerConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.embed_dropout = nn.Dropout(config.hidden_dropout)
        self.rotary_emb = CadenzaComposerRotaryEmbedding(config)
        self.encoder = CadenzaComposerEncoder(config)
        self.latent_mean = nn.Linear(config.hidden_size, config.latent_size)  # W_mu
        self.latent_logvar = nn.Linear(config.hidden_size, config.latent_size)  # W_sigma, as log-variance
        self.decoder = CadenzaComposerDecoder(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        # Auxiliary bag-of-words head (training only; see `config.bow_loss_weight`): z -> one token distribution.
        self.bow_head = None
        if config.bow_loss_weight > 0:
            self.bow_head = nn.Sequential(
                nn.Linear(config.latent_size, config.hidden_size),
                nn.GELU(),
                nn.Linear(config.hidden_size, config.vocab_size),
            )
        self.kl_beta = float(config.kl_beta)  # current beta; annealed by a training callback
        self.post_init()

    def encode(self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None) -> LatentDistribution:
        """
        Encode a (padded) batch of token sequences into the posterior q(z|x).

        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`):
                Token ids; left or right padding both work when `attention_mask` marks the pads with 0.
            attention_mask (`torch.Tensor` of shape `(batch_size, sequence_length)`, *optional*):
                1 for real tokens, 0 for padding.
        """
        return self.encode_idea(input_ids, attention_mask)[0]

    def encode_idea(
        self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[LatentDistribution, torch.Tensor]:
        """
        Encode a batch into the posterior q(z|x) and the encoder's hidden state at every timestep, shape
        `(batch_size, sequence_length, hidden_size)`: what the decoder's idea attention reads (pass it to `forward`
        or `generate` as `idea_states`, with `attention_mask` as `idea_attention_mask`).
        """
        embeds = self.embed_dropout(self.embed_tokens(input_ids))  # (B, T, hidden)
        position_ids = _position_ids(attention_mask, input_ids.shape[1], 0, input_ids.device)
        h, states = self.encoder(embeds, attention_mask, self.rotary_emb(embeds, position_ids))  # (B, hidden)
        logvar = self.latent_logvar(h).clamp(LOGVAR_MIN, LOGVAR_MAX)
        return LatentDistribution(mean=self.latent_mean(h), logvar=logvar), states

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        encoder_input_ids: torch.LongTensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        latent: torch.Tensor | None = None,
        idea_states: torch.Tensor | None = None,
        idea_attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        cache: Cache | None = None,
        position_ids: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs,
    ) -> ComposerOutput:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`):
                Decoder input tokens (and, by default, the encoder input too).
            attention_mask (`torch.Tensor` of shape `(batch_size, past_length + sequence_length)`, *optional*):
                1 for real tokens, 0 for padding (left or right).
            encoder_input_ids (`torch.LongTensor` of shape `(batch_size, encoder_length)`, *optional*):
                What the encoder reads; defaults to `input_ids` (the VAE reconstructs its own input).
            encoder_attention_mask (`torch.Tensor` of shape `(batch_size, encoder_length)`, *optional*):
                Padding mask of `encoder_input_ids`; defaults to `attention_mask` when the encoder reads `input_ids`.
            latent (`torch.Tensor` of shape `(batch_size, latent_size)`, *optional*):
                Condition the decoder on this `z` and skip the encoder (generation). Otherwise `z` is a posterior
                sample in training mode and the posterior mean in eval mode.
            idea_states (`torch.Tensor` of shape `(batch_size, encoder_length, hidden_size)`, *optional*):
                With `config.idea_attention`: the encoded idea the decoder attends to, from [`encode_idea`]; needed
                with `latent` (generation). Without `latent` the encoder's own states are used.
            idea_attention_mask (`torch.Tensor` of shape `(batch_size, encoder_length)`, *optional*):
                Padding mask of `idea_states`.
            labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
                Target ids, shifted inside the model (position t predicts label t+1); -100 is ignored.
            cache (`Cache`, *optional*):
                Decoder key/value cache from a previous call; requires `latent`.
            position_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
                Decoder positions; by default counted over the real tokens of `attention_mask`, after the cache.
            use_cache (`bool`, *optional*):
                Return a cache; defaults to `config.use_cache` in eval mode and `False` in training mode.
            logits_to_keep (`int` or `torch.Tensor`, *optional*, defaults to 0):
                Compute logits only for the last `logits_to_keep` positions (0: all).
        """
        if use_cache is None:
            use_cache = self.config.use_cache and not self.training
        posterior = None
        if latent is None:
            if cache is not None and cache.get_seq_length() > 0:
                raise ValueError("Decoding with a filled `cache` needs the `latent` (e.g. `generate(..., latent=z)`).")
            if encoder_input_ids is None:
                encoder_input_ids = input_ids
                encoder_attention_mask = attention_mask if encoder_attention_mask is None else encoder_attention_mask
            posterior, states = self.encode_idea(encoder_input_ids, encoder_attention_mask)
            latent = posterior.sample() if self.training else posterior.mode()
            if self.config.idea_attention:
                idea_states, idea_attention_mask = states, encoder_attention_mask
        if self.config.idea_attention and idea_states is None:
            raise ValueError("This composer reads the idea (`idea_attention`): pass `idea_states` with the latent.")
        if use_cache and cache is None:
            cache = DynamicCache(config=self.config)

        decoder_ids = self._drop_words(input_ids, attention_mask) if labels is not None else input_ids
        hidden_states = self._decode(
            decoder_ids, latent, attention_mask, position_ids, cache, idea_states, idea_attention_mask
        )
        logits = self.lm_head(slice_logits_to_keep(hidden_states, logits_to_keep))  # (B, T, vocab)

        loss = reconstruction_loss = kl_loss = kl_loss_raw = bow_loss = None
        if labels is not None:
            loss = reconstruction_loss = self.reconstruction_loss(logits, labels)
        if posterior is not None:
            kl_per_dim = posterior.kl().mean(0)  # (latent_size,), averaged over the batch
            kl_loss = kl_per_dim.clamp(min=self.config.kl_free_bits).sum()  # free bits, eq. 4
            kl_loss_raw = kl_per_dim.sum()
            if loss is not None:
                loss = loss + self.kl_beta * kl_loss  # eq. 7
                if self.bow_head is not None:
                    bow_loss = self.bag_of_words_loss(latent, labels)
                    loss = loss + self.config.bow_loss_weight * bow_loss
        return ComposerOutput(
            loss=loss,
            logits=logits,
            reconstruction_loss=reconstruction_loss,
            kl_loss=kl_loss,
            kl_loss_raw=kl_loss_raw,
            bow_loss=bow_loss,
            latent_mean=posterior.mean if posterior is not None else None,
            latent_logvar=posterior.logvar if posterior is not None else None,
            latent=latent,
            cache=cache if use_cache else None,
        )

    def _drop_words(self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None) -> torch.LongTensor:
        """Training only: replace a `config.word_dropout` share of the decoder's real input tokens (never the first
        one, the BOS prompt) with `config.word_dropout_token_id`."""
        p = self.config.word_dropout
        if not self.training or p <= 0:
            return input_ids
        drop = torch.rand(input_ids.shape, device=input_ids.device) < p  # (B, T)
        drop[:, 0] = False
        if attention_mask is not None:
            drop &= attention_mask.bool()
        return input_ids.masked_fill(drop, self.config.word_dropout_token_id)

    def _decode(
        self, input_ids, latent, attention_mask, position_ids, cache, idea_states=None, idea_mask=None
    ) -> torch.Tensor:
        """Run the decoder on `input_ids` conditioned on `latent`; returns the final hidden states (B, T, hidden)."""
        embeds = self.embed_dropout(self.embed_tokens(input_ids))  # (B, T, hidden)
        if position_ids is None:
            past_len = cache.get_seq_length() if cache is not None else 0
            position_ids = _position_ids(attention_mask, input_ids.shape[1], past_len, input_ids.device)
        position_embeddings = self.rotary_emb(embeds, position_ids)
        idea_positions = None
        if not self.config.idea_attention:
            idea_states = None  # a plain VAE has no idea attention to feed
        elif idea_states is not None:
            idea_position_ids = _position_ids(idea_mask, idea_states.shape[1], 0, idea_states.device)
            idea_positions = self.rotary_emb(idea_states, idea_position_ids)
        return self.decoder(
            embeds,
            latent.to(embeds.dtype),
            attention_mask,
            position_ids,
            position_embeddings,
            cache,
            idea_states,
            idea_mask,
            idea_positions,
        )

    def reconstruction_loss(self, logits: torch.Tensor, labels: torch.LongTensor) -> torch.Tensor:
        """
        Negative log-likelihood of `labels[:, 1:]` under `logits[:, :-1]` (-100 ignored), reduced as
        `config.reconstruction_reduction` says: `"sum"` per sequence then mean over the batch (eq. 6), or `"mean"`
        over tokens.
        """
        shift_logits = logits[:, :-1].float()  # (B, T-1, vocab): position t predicts token t+1
        shift_labels = labels[:, 1:].to(logits.device)  # (B, T-1)
        nll = F.cross_entropy(shift_logits.flatten(0, 1), shift_labels.flatten(), ignore_index=-100, reduction="sum")
        return self._reduce(nll, shift_labels)

    def bag_of_words_loss(self, latent: torch.Tensor, labels: torch.LongTensor) -> torch.Tensor:
        """
        Negative log-likelihood of every token of `labels[:, 1:]` (-100 ignored) under one distribution predicted
        from `latent` by `bow_head`, order ignored; reduced like [`reconstruction_loss`]. Needs
        `config.bow_loss_weight > 0`.
        """
        if self.bow_head is None:
            raise ValueError("This composer has no bag-of-words head: set `bow_loss_weight > 0` in its config.")
        log_probs = F.log_softmax(self.bow_head(latent).float(), dim=-1)  # (B, vocab)
        targets = labels[:, 1:].to(log_probs.device)  # (B, T-1), the reconstruction's targets
        valid = targets != -100
        picked = log_probs.gather(1, targets.clamp(min=0))  # (B, T-1)
        return self._reduce(-(picked * valid).sum(), targets)

    def _reduce(self, nll_sum: torch.Tensor, targets: torch.LongTensor) -> torch.Tensor:
        """A summed NLL over `targets` as `config.reconstruction_reduction` says: per sequence or per token."""
        if self.config.reconstruction_reduction == "sum":
            return nll_sum / targets.shape[0]
        return nll_sum / (targets != -100).sum().clamp(min=1)

    def sample_latent(
        self,
        distribution: LatentDistribution,
        variation_strength: float,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """
        Draw a latent whose distance from the input is controlled by one knob `s = variation_strength` in [0, 1]:

        - `s = 0`: the posterior mean `mu` (closest to the input);
        - `0 < s <= 0.5`: `mu + 2s * sigma * eps`, up to a full posterior sample at `s = 0.5`;
        - `0.5 < s <= 1`: with `a = 2s - 1`, `(1 - a) * mu + sqrt((1 - a) * sigma^2 + a) * eps`: the mean slides
          from `mu` to 0 and the variance from the posterior's to the prior's, linearly, so that `s = 1` is a prior
          sample `eps ~ N(0, I)` and ignores the input entirely. (A blend of two independent samples,
          `(1 - a) * posterior_sample + a * prior_sample`, would shrink the variance to about half in the middle
          of the range and pull those latents towards the prior's mode, where the decoder is most generic.)

        For a seeded `generator` the result is a continuous function of `s`: every `s > 0` uses the same `eps`.

        Args:
            distribution (`LatentDistribution`):
                Posterior from [`encode`].
            variation_strength (`float`):
                The knob `s`; a `ValueError` is raised outside [0, 1].
            generator (`torch.Generator`, *optional*):
                Source of randomness, for reproducible variations.
        """
        s = float(variation_strength)
        if not 0.0 <= s <= 1.0:
            raise ValueError(f"`variation_strength` must be in [0, 1], got {variation_strength!r}.")
        mu = distribution.mean
        if s == 0.0:
            return mu
        eps = _randn_like(mu, generator)
        if s <= 0.5:
            return mu + (2.0 * s) * distribution.std * eps
        a = 2.0 * s - 1.0
        return (1.0 - a) * mu + torch.sqrt((1.0 - a) * distribution.logvar.exp() + a) * eps

    def sample_prior(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """Draw `batch_size` latents from the prior N(0, I); shape `(batch_size, latent_size)`."""
        shape = (batch_size, self.config.latent_size)
        return torch.randn(shape, generator=generator, device=device or self.device, dtype=dtype or self.dtype)

    @staticmethod
    def interpolate_latents(z_a: torch.Tensor, z_b: torch.Tensor, steps: int) -> torch.Tensor:
        """
        Spherical linear interpolation from `z_a` to `z_b` (each of shape `(latent_size,)` or `(1, latent_size)`).
        Returns `(steps, latent_size)` with `z_a` first and `z_b` last; falls back to linear interpolation when the
        two are (anti)parallel.
        """
        if steps < 2:
            raise ValueError(f"`steps` must be >= 2 to include both ends, got {steps}.")
        z_a, z_b = z_a.reshape(-1), z_b.reshape(-1)
        if z_a.shape != z_b.shape:
            raise ValueError(f"Latents must have the same size, got {tuple(z_a.shape)} and {tuple(z_b.shape)}.")
        t = torch.linspace(0.0, 1.0, steps, device=z_a.device, dtype=z_a.dtype)[:, None]  # (steps, 1)
        cos_omega = F.cosine_similarity(z_a, z_b, dim=0).clamp(-1.0, 1.0)
        omega = torch.arccos(cos_omega)
        if torch.sin(omega).abs() < 1e-6:
            out = (1.0 - t) * z_a + t * z_b
        else:
            out = (torch.sin((1.0 - t) * omega) * z_a + torch.sin(t * omega) * z_b) / torch.sin(omega)
        out[0], out[-1] = z_a, z_b  # exact ends despite rounding
        return out  # (steps, latent_size)


__all__ = [
    "CadenzaComposerModel",
    "CadenzaComposerPreTrainedModel",
    "ComposerOutput",
    "LatentDistribution",
]
