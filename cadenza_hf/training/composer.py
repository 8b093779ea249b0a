"""Train the Cadenza composer (transformer VAE) on composition tokens with ``Trainer``.

    cadenza train composer --config composer_small \
        --dataset_dir data/pop909_groove --output_dir runs/composer-small

Any flag overrides the JSON preset. Re-running the same command resumes from the last
``checkpoint-*`` in ``--output_dir`` (``--overwrite_output_dir true`` starts over).
``--init_from DIR`` starts from trained weights with a fresh optimizer (a warm restart,
e.g. after moving to another machine). Runs unchanged under ``accelerate launch``
(several GPUs, ``--bf16 true``) and on CPU.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field

import torch
from transformers import HfArgumentParser, TrainingArguments, set_seed

from ..data import ComposerCollator, DenoisingComposerCollator
from ..modeling.composer import CadenzaComposerConfig, CadenzaComposerModel
from ..tokenization.tokenization_pertok import PerTokTokenizer
from .trainer import (
    KLSchedule,
    KLScheduleCallback,
    LossTermsTrainer,
    end_distributed,
    last_checkpoint,
    load_train_eval,
    parse_script_args,
    run_training,
)


@dataclass
class ModelArguments:
    preset: str = field(default="small", metadata={"help": "config preset: small or paper"})
    config_overrides: str = field(default="{}", metadata={"help": "JSON of config fields over the preset"})
    init_from: str | None = field(default=None, metadata={"help": "start from these weights (fresh optimizer)"})
    tokenizer_name: str | None = field(default=None, metadata={"help": "saved tokenizer (default: PerTok defaults)"})
    torch_threads: int = field(default=0, metadata={"help": "torch CPU threads (0: leave torch's default)"})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "ignore checkpoints and start over"})


@dataclass
class DataArguments:
    dataset_dir: str = field(default="", metadata={"help": "DatasetDict saved by cadenza build-dataset"})
    collections: list[str] = field(default_factory=list, metadata={"help": "keep only these collections"})
    kinds: list[str] = field(default_factory=list, metadata={"help": "keep only these kinds"})
    max_length: int = field(default=1024, metadata={"help": "drop longer composition sequences"})
    max_train_samples: int | None = field(default=None)
    max_eval_samples: int | None = field(default=2000)


@dataclass
class KLArguments:
    beta_max: float = field(default=0.3, metadata={"help": "largest KL weight (paper Balanced-KL 0.3)"})
    kl_hold_steps: int = field(default=25_000, metadata={"help": "steps at beta 0 (paper 25k)"})
    kl_ramp_steps: int = field(default=25_000, metadata={"help": "steps of the linear rise (paper 25k)"})
    kl_cycle_steps: int = field(default=10_000, metadata={"help": "cosine cycle period (paper 10k)"})
    kl_rise_fraction: float = field(default=0.5, metadata={"help": "share of a cycle spent rising"})


def build_model(model_args: ModelArguments, tok: PerTokTokenizer, max_length: int, beta_max: float):
    """A fresh model from the preset, or ``--init_from`` weights; ``--config_overrides`` apply to both (e.g.
    ``{"word_dropout": 0.3}`` or ``{"bow_loss_weight": 1.0}`` on a trained model; a bag-of-words head new to the
    weights starts from the usual initialisation). Word dropout replaces tokens with the tokenizer's MASK."""
    overrides = json.loads(model_args.config_overrides)
    if overrides.get("word_dropout"):
        overrides.setdefault("word_dropout_token_id", tok.mask_token_id)
    if model_args.init_from:
        model, info = CadenzaComposerModel.from_pretrained(model_args.init_from, output_loading_info=True, **overrides)
        if any(".idea_attn." in key for key in info["missing_keys"]):
            # idea attention new to these weights: start it as a no-op (zero output projection), so training
            # begins exactly where the plain VAE was and the decoder learns to read the idea from there
            with torch.no_grad():
                for layer in model.decoder.layers:
                    layer.idea_attn.o_proj.weight.zero_()
                    layer.idea_attn.o_proj.bias.zero_()
        return model
    config = CadenzaComposerConfig.from_preset(
        model_args.preset,
        vocab_size=tok.vocab_size,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        max_position_embeddings=max_length,
        kl_beta=beta_max,
        **overrides,
    )
    return CadenzaComposerModel(config)


def build_parser() -> HfArgumentParser:
    """The script's argument dataclasses; ``--config file.json`` fills them (see ``parse_script_args``)."""
    return HfArgumentParser((ModelArguments, DataArguments, KLArguments, TrainingArguments))


def main(argv=None) -> int:
    parser = build_parser()
    model_args, data_args, kl_args, training_args = parse_script_args(parser, argv)
    if model_args.torch_threads:
        torch.set_num_threads(model_args.torch_threads)
    set_seed(training_args.seed)
    training_args.remove_unused_columns = False  # the collator reads composition_ids
    tok = PerTokTokenizer.from_pretrained(model_args.tokenizer_name) if model_args.tokenizer_name else PerTokTokenizer()

    train, evaluation = load_train_eval(data_args, "composition_ids", training_args.seed, training_args)

    model = build_model(model_args, tok, data_args.max_length, kl_args.beta_max)
    schedule = KLSchedule(
        kl_args.beta_max, kl_args.kl_hold_steps, kl_args.kl_ramp_steps, kl_args.kl_cycle_steps, kl_args.kl_rise_fraction
    )
    trainer = LossTermsTrainer(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        data_collator=(
            DenoisingComposerCollator(tok, seed=training_args.seed)
            if model.config.idea_attention
            else ComposerCollator(tok)
        ),
        processing_class=tok,
        callbacks=[KLScheduleCallback(schedule)],
    )
    resume = last_checkpoint(training_args.output_dir, model_args.overwrite_output_dir)
    run_training(
        trainer,
        resume,
        argv,
        {"kl_schedule": asdict(schedule), "data": asdict(data_args)},
        program="cadenza train composer",
    )
    end_distributed(trainer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
