"""Train (or fine-tune) a Cadenza performer: masked velocity and microtiming prediction.

    cadenza train performer --config performer_small \
        --dataset_dir data/pop909_groove --collections groove --output_dir runs/performer-groove

Every Velocity and MicroTiming token is masked (100%, paper §3.2); the loss is the
cross-entropy on those positions only. Re-running resumes from the last checkpoint in
``--output_dir``. To fine-tune on your own style, start from a trained performer and a
dataset built from your MIDI folder, and publish with Trainer's Hub options::

    cadenza build-dataset --input my_midi/ --output data/mine
    cadenza train performer --init_from cadenza_hf/checkpoints/performer-groove \
        --dataset_dir data/mine --output_dir runs/performer-mine --max_steps 300 \
        --push_to_hub true --hub_model_id me/cadenza-performer-mine
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field

import torch
from transformers import HfArgumentParser, TrainingArguments, set_seed

from ..data import PerformerCollator
from ..modeling.performer import CadenzaPerformerConfig, CadenzaPerformerForMaskedLM
from ..tokenization.dynamics import level_statistics
from ..tokenization.tokenization_pertok import PerTokTokenizer
from .trainer import (
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
    init_from: str | None = field(default=None, metadata={"help": "start from this performer (fine-tuning)"})
    tokenizer_name: str | None = field(default=None, metadata={"help": "saved tokenizer (default: PerTok defaults)"})
    torch_threads: int = field(default=0, metadata={"help": "torch CPU threads (0: leave torch's default)"})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "ignore checkpoints and start over"})


@dataclass
class DataArguments:
    dataset_dir: str = field(default="", metadata={"help": "DatasetDict saved by cadenza build-dataset"})
    collections: list[str] = field(default_factory=list, metadata={"help": "keep only these collections"})
    kinds: list[str] = field(default_factory=list, metadata={"help": "keep only these kinds"})
    max_length: int = field(default=1024, metadata={"help": "drop longer sequences"})
    max_train_samples: int | None = field(default=None, metadata={"help": "paper: about 10,000 excerpts"})
    max_eval_samples: int | None = field(default=1000)
    min_mask_ratio: float = field(
        default=1.0,
        metadata={
            "help": "lowest share of performance slots masked per sequence (1.0: the paper's 100%%; "
            "lower trains iterative decoding)"
        },
    )
    full_mask_share: float = field(
        default=0.0, metadata={"help": "share of sequences masked at 100%% when min_mask_ratio < 1"}
    )
    dynamics_levels: int = field(
        default=0,
        metadata={
            "help": "condition on per-bar dynamics levels (0: off, the paper's performer); see "
            "CadenzaPerformerConfig.dynamics_levels"
        },
    )
    dynamics_level_width: int = field(default=8, metadata={"help": "velocity units per dynamics level"})
    dynamics_max_step: int = field(default=3, metadata={"help": "largest bar-to-bar level change drawn"})
    dynamics_dropout: float = field(default=0.1, metadata={"help": "share of sequences trained without levels"})
    metric_grid: int = field(
        default=0,
        metadata={
            "help": "condition on each note's place in the bar on this many positions per quarter (0: off; 12 for "
            "16ths and triplets); see CadenzaPerformerConfig.metric_grid"
        },
    )
    dynamics_stat_rows: int = field(
        default=5000, metadata={"help": "training excerpts the level distributions are measured on"}
    )


def metric_config(data_args: DataArguments, tok: PerTokTokenizer) -> dict:
    """The config fields of a performer that reads each note's metric position (empty when ``--metric_grid`` is 0)."""
    if not data_args.metric_grid:
        return {}
    shifts = tok.time_shift_ticks
    return {
        "metric_grid": data_args.metric_grid,
        "bar_token_id": tok.bar_token_id,
        "time_shift_token_ids": list(shifts),
        "time_shift_ticks": list(shifts.values()),
        "ticks_per_quarter": tok.ticks_per_quarter,
    }


def dynamics_config(data_args: DataArguments, tok: PerTokTokenizer, train) -> dict:
    """The config fields of a dynamics-conditioned performer, with its level distributions measured on (a sample
    of) the training rows; empty when ``--dynamics_levels`` is 0."""
    if not data_args.dynamics_levels:
        return {}
    rows = train.select(range(min(len(train), data_args.dynamics_stat_rows)))["input_ids"]
    levels, width = data_args.dynamics_levels, data_args.dynamics_level_width
    start, step = level_statistics(
        rows, tok.bar_token_id, tok.velocity_values, levels, width, data_args.dynamics_max_step
    )
    return {
        "dynamics_levels": levels,
        "dynamics_level_width": width,
        "dynamics_start_probs": start,
        "dynamics_step_probs": step,
    }


def build_model(model_args: ModelArguments, tok: PerTokTokenizer, max_length: int, extra: dict | None = None):
    if model_args.init_from:
        return CadenzaPerformerForMaskedLM.from_pretrained(model_args.init_from, **(extra or {}))
    config = CadenzaPerformerConfig.from_preset(
        model_args.preset,
        vocab_size=tok.vocab_size,
        pad_token_id=tok.pad_token_id,
        mask_token_id=tok.mask_token_id,
        velocity_token_ids=tok.velocity_ids,
        microtiming_token_ids=tok.microtiming_ids,
        max_position_embeddings=max_length,
        **{**json.loads(model_args.config_overrides), **(extra or {})},
    )
    return CadenzaPerformerForMaskedLM(config)


def build_parser() -> HfArgumentParser:
    """The script's argument dataclasses; ``--config file.json`` fills them (see ``parse_script_args``)."""
    return HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))


def main(argv=None) -> int:
    parser = build_parser()
    model_args, data_args, training_args = parse_script_args(parser, argv)
    if model_args.torch_threads:
        torch.set_num_threads(model_args.torch_threads)
    set_seed(training_args.seed)
    training_args.remove_unused_columns = False  # the collator masks input_ids itself
    tok = PerTokTokenizer.from_pretrained(model_args.tokenizer_name) if model_args.tokenizer_name else PerTokTokenizer()

    train, evaluation = load_train_eval(data_args, "input_ids", training_args.seed, training_args)

    extra = {**dynamics_config(data_args, tok, train), **metric_config(data_args, tok)}
    model = build_model(model_args, tok, data_args.max_length, extra)
    trainer = LossTermsTrainer(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        data_collator=PerformerCollator(
            tok,
            min_mask_ratio=data_args.min_mask_ratio,
            full_mask_share=data_args.full_mask_share,
            seed=training_args.seed,
            dynamics_levels=data_args.dynamics_levels,
            dynamics_level_width=data_args.dynamics_level_width,
            dynamics_dropout=data_args.dynamics_dropout,
        ),
        processing_class=tok,
    )
    resume = last_checkpoint(training_args.output_dir, model_args.overwrite_output_dir)
    run_training(trainer, resume, argv, {"data": asdict(data_args)}, program="cadenza train performer")
    if training_args.push_to_hub and trainer.is_world_process_zero():
        trainer.push_to_hub()
    end_distributed(trainer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
