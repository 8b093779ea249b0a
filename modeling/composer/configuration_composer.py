"""Configuration of the Cadenza composer, a transformer VAE over PerTok MIDI tokens (paper §3.1)."""

from typing import ClassVar

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

_PRESETS: dict[str, dict] = {
    # Paper §4.1: 12 + 12 layers, 8 heads, d = 512, d_z = 128, "Balanced-KL" (beta 0.3, lambda 0.25).
    "paper": {
        "hidden_size": 512,
        "num_encoder_layers": 12,
        "num_decoder_layers": 12,
        "num_attention_heads": 8,
        "intermediate_size": 2048,
        "latent_size": 128,
        "kl_beta": 0.3,
        "kl_free_bits": 0.25,
    },
    # 6.45M parameters with the default 320-token vocabulary: trains on a CPU.
    "small": {
        "hidden_size": 256,
        "num_encoder_layers": 4,
        "num_decoder_layers": 4,
        "num_attention_heads": 4,
        "intermediate_size": 1024,
        "latent_size": 64,
    },
}

_REDUCTIONS = ("sum", "mean")


@strict
class CadenzaComposerConfig(PreTrainedConfig):
    r"""
    Configuration of a [`CadenzaComposerModel`]: a transformer VAE whose bidirectional encoder maps a token sequence
    to a Gaussian latent `z`, and whose causal decoder reconstructs the sequence with `z` added to the hidden state
    before every layer ("in-attention" conditioning, paper eq. 5). Both stacks use rotary position embeddings and
    share one token embedding, which is also tied to the output projection.

    Args:
        vocab_size (`int`, *optional*, defaults to 320):
            Number of tokens in the vocabulary (the PerTok vocabulary plus special tokens).
        hidden_size (`int`, *optional*, defaults to 256):
            Dimension `d` of the hidden states of the encoder and the decoder.
        num_encoder_layers (`int`, *optional*, defaults to 4):
            Number of bidirectional self-attention layers in the encoder.
        num_decoder_layers (`int`, *optional*, defaults to 4):
            Number of causal self-attention layers in the decoder. Also readable as `num_hidden_layers`, which is
            what `generate()` uses to size its key/value cache.
        num_attention_heads (`int`, *optional*, defaults to 4):
            Number of attention heads in every attention layer.
        intermediate_size (`int`, *optional*, defaults to 1024):
            Dimension of the GELU feed-forward layers.
        latent_size (`int`, *optional*, defaults to 64):
            Dimension `d_z` of the latent vector `z`.
        hidden_dropout (`float`, *optional*, defaults to 0.1):
            Dropout probability on the embeddings and on the output of every attention and feed-forward block.
        attention_dropout (`float`, *optional*, defaults to 0.0):
            Dropout probability on the attention weights.
        max_position_embeddings (`int`, *optional*, defaults to 1024):
            Longest sequence the model is meant to be used with (RoPE itself has no hard limit).
        rope_parameters (`dict`, *optional*, defaults to `{"rope_type": "default", "rope_theta": 10000.0}`):
            Rotary embedding parameters, in the standard transformers format (`rope_type`, `rope_theta`, and the
            scaling keys of the scaled types).
        layer_norm_eps (`float`, *optional*, defaults to 1e-5):
            Epsilon of the layer normalisations.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialiser of the linear and embedding weights.
        kl_free_bits (`float`, *optional*, defaults to 0.25):
            Free bits `lambda` (paper eq. 4), in nats *per latent dimension*: the KL term of a dimension is not
            penalised below this value, `kl_loss = sum_k max(lambda, KL_k)`.
        kl_beta (`float`, *optional*, defaults to 0.3):
            Maximum weight `beta` of the KL term (paper eq. 7). The weight actually used is the model attribute
            `model.kl_beta`, initialised from this value and typically annealed by a training callback.
        reconstruction_reduction (`str`, *optional*, defaults to `"sum"`):
            How the token negative log-likelihood is reduced. `"sum"`: summed over the tokens of each sequence, then
            averaged over the batch (paper eq. 6). This is the ELBO-consistent scale next to a KL that is summed over
            the latent dimensions (eq. 4), so `beta` and the free bits mean what they mean in the paper. `"mean"`: the
            mean over all non-ignored tokens, as in a plain causal LM; the KL is then comparatively much stronger.
        word_dropout (`float`, *optional*, defaults to 0.0):
            Share of the decoder's *input* tokens replaced by `word_dropout_token_id` in training (Bowman et al.,
            2016, "Generating Sentences from a Continuous Space"). The encoder still reads the whole sequence and the
            targets are unchanged, so the decoder can only predict what it no longer sees from `z`: this counters
            posterior collapse and the greedy "repeat the previous pitch" habit of a decoder that leans on its
            context. 0 (the paper's setting) turns it off; never applied in eval mode or generation.
        word_dropout_token_id (`int`, *optional*):
            Id that replaces the dropped tokens (cadenza uses the tokenizer's MASK, which the composer never has to
            produce); required when `word_dropout > 0`.
        bow_loss_weight (`float`, *optional*, defaults to 0.0):
            Weight of an auxiliary bag-of-words loss (Zhao et al., 2017, "Learning Discourse-level Diversity for
            Neural Dialog Models using Conditional Variational Autoencoders"): a small head predicts, from `z` alone,
            every token of the sequence regardless of order, and its negative log-likelihood (reduced like the
            reconstruction) is added to the loss. It gives the encoder a direct reason to put the idea's pitches,
            time shifts and durations into `z`, which a decoder that leans on its own context otherwise learns to
            ignore. 0 (the paper's setting) builds no head.
        idea_attention (`bool`, *optional*, defaults to `False`):
            Give every decoder layer a cross-attention block over the encoder's token-level hidden states, so the
            decoder reads the idea note by note instead of only through `z`. Trained as a denoising autoencoder: the
            encoder reads the idea with a random share of its tokens masked (runs of masked tokens collapsed into one
            mask token), the decoder writes the whole idea. At inference the share masked is the variation strength:
            0 gives the idea back, 1 keeps only its bar count. `False` is the paper's single-`z` VAE.
        pad_token_id (`int`, *optional*, defaults to 0):
            Id of the padding token (its embedding row is initialised to zero).
        bos_token_id (`int`, *optional*, defaults to 1):
            Id of the beginning-of-sequence token, the usual prompt for `generate()`.
        eos_token_id (`int`, *optional*, defaults to 2):
            Id of the end-of-sequence token.
        tie_word_embeddings (`bool`, *optional*, defaults to `True`):
            Whether the output projection shares its weight with the token embedding (paper §3.1).
        use_cache (`bool`, *optional*, defaults to `True`):
            Whether the decoder returns its key/value cache when not training.

    Example:

    ```python
    >>> from cadenza_hf.modeling.composer import CadenzaComposerConfig, CadenzaComposerModel

    >>> config = CadenzaComposerConfig(hidden_size=64, num_encoder_layers=2, num_decoder_layers=2, latent_size=16)
    >>> model = CadenzaComposerModel(config)
    >>> config.num_hidden_layers  # alias of num_decoder_layers
    2
    >>> CadenzaComposerConfig.from_preset("paper").hidden_size
    512

    ```
    """

    model_type = "cadenza_composer"
    attribute_map: ClassVar[dict[str, str]] = {"num_hidden_layers": "num_decoder_layers"}

    vocab_size: int = 320
    hidden_size: int = 256
    num_encoder_layers: int = 4
    num_decoder_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    latent_size: int = 64
    hidden_dropout: float | int = 0.1
    attention_dropout: float | int = 0.0
    max_position_embeddings: int = 1024
    rope_parameters: dict | None = None
    layer_norm_eps: float = 1e-5
    initializer_range: float = 0.02
    kl_free_bits: float | int = 0.25
    kl_beta: float | int = 0.3
    reconstruction_reduction: str = "sum"
    word_dropout: float | int = 0.0
    word_dropout_token_id: int | None = None
    bow_loss_weight: float | int = 0.0
    idea_attention: bool = False
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | None = 2
    tie_word_embeddings: bool = True
    use_cache: bool = True

    def __post_init__(self, **kwargs):
        if self.rope_parameters is None:
            self.rope_parameters = {"rope_type": "default", "rope_theta": 10000.0}
        super().__post_init__(**kwargs)

    @property
    def head_dim(self) -> int:
        """Dimension of one attention head."""
        return self.hidden_size // self.num_attention_heads

    def validate_architecture(self):
        """Part of `@strict`-powered validation: raises `ValueError` quoting the offending value."""
        super().validate_architecture()
        if self.num_attention_heads <= 0 or self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"`hidden_size` ({self.hidden_size}) must be a multiple of `num_attention_heads` "
                f"({self.num_attention_heads})."
            )
        if self.head_dim % 2 != 0:
            raise ValueError(f"The head dimension ({self.head_dim}) must be even for rotary embeddings.")
        if self.latent_size <= 0:
            raise ValueError(f"`latent_size` must be positive, got {self.latent_size}.")
        if self.reconstruction_reduction not in _REDUCTIONS:
            raise ValueError(
                f"`reconstruction_reduction` must be one of {_REDUCTIONS}, got {self.reconstruction_reduction!r}."
            )
        if self.kl_free_bits < 0:
            raise ValueError(f"`kl_free_bits` must be >= 0, got {self.kl_free_bits}.")
        if self.kl_beta < 0:
            raise ValueError(f"`kl_beta` must be >= 0, got {self.kl_beta}.")
        if not 0.0 <= self.word_dropout < 1.0:
            raise ValueError(f"`word_dropout` must be in [0, 1), got {self.word_dropout}.")
        if self.word_dropout > 0 and self.word_dropout_token_id is None:
            raise ValueError("`word_dropout > 0` needs `word_dropout_token_id` (e.g. the tokenizer's mask_token_id).")
        if self.bow_loss_weight < 0:
            raise ValueError(f"`bow_loss_weight` must be >= 0, got {self.bow_loss_weight}.")

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "CadenzaComposerConfig":
        """
        Build a configuration from a named preset.

        Args:
            name (`str`):
                `"paper"` (the §4.1 composer: 12 + 12 layers, 8 heads, d = 512, d_z = 128, beta 0.3, free bits
                0.25; ~76M parameters) or `"small"` (4 + 4 layers, 4 heads, d = 256, d_z = 64; ~6.5M parameters).
            overrides:
                Any config field, applied on top of the preset (e.g. `vocab_size=412`).
        """
        if name not in _PRESETS:
            raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(_PRESETS)}.")
        return cls(**{**_PRESETS[name], **overrides})


__all__ = ["CadenzaComposerConfig"]
