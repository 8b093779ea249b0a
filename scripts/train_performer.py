#!/usr/bin/env python
"""Train (or fine-tune) a Cadenza performer: masked velocity and microtiming prediction.

    python scripts/train_performer.py --config scripts/configs/performer_small.json \
        --dataset_dir data/pop909_groove --collections groove --output_dir runs/performer-groove

Every Velocity and MicroTiming token is masked (100%, paper §3.2); the loss is the
cross-entropy on those positions only. Re-running resumes from the last checkpoint in
``--output_dir``. To fine-tune on your own style, start from a trained performer and a
dataset built from your MIDI folder, and publish with Trainer's Hub options::

    python scripts/build_dataset.py --input my_midi/ --output data/mine
    python scripts/train_performer.py --init_from cadenza_hf/checkpoints/performer-groove \
        --dataset_dir data/mine --output_dir runs/performer-mine --max_steps 300 \
        --push_to_hub true --hub_model_id me/cadenza-performer-mine
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field

import torch
from datasets import load_from_disk
from transformers import HfArgumentParser, TrainingArguments, set_seed

from cadenza_hf import CadenzaPerformerConfig, CadenzaPerformerForMaskedLM, PerTokTokenizer
from cadenza_hf.data import PerformerCollator
from cadenza_hf.training import LossTermsTrainer, last_checkpoint, parse_script_args, select_rows
from cadenza_hf.training import write_training_record


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
    dataset_dir: str = field(default="", metadata={"help": "DatasetDict saved by scripts/build_dataset.py"})
    collections: list[str] = field(default_factory=list, metadata={"help": "keep only these collections"})
    kinds: list[str] = field(default_factory=list, metadata={"help": "keep only these kinds"})
    max_length: int = field(default=1024, metadata={"help": "drop longer sequences"})
    max_train_samples: int | None = field(default=None, metadata={"help": "paper: about 10,000 excerpts"})
    max_eval_samples: int | None = field(default=1000)


def build_model(model_args: ModelArguments, tok: PerTokTokenizer, max_length: int):
    if model_args.init_from:
        return CadenzaPerformerForMaskedLM.from_pretrained(model_args.init_from)
    config = CadenzaPerformerConfig.from_preset(
        model_args.preset,
        vocab_size=tok.vocab_size,
        pad_token_id=tok.pad_token_id,
        mask_token_id=tok.mask_token_id,
        velocity_token_ids=tok.velocity_ids,
        microtiming_token_ids=tok.microtiming_ids,
        max_position_embeddings=max_length,
        **json.loads(model_args.config_overrides),
    )
    return CadenzaPerformerForMaskedLM(config)


def main(argv=None) -> int:
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    model_args, data_args, training_args = parse_script_args(parser, argv)
    if model_args.torch_threads:
        torch.set_num_threads(model_args.torch_threads)
    set_seed(training_args.seed)
    training_args.remove_unused_columns = False  # the collator masks input_ids itself
    tok = PerTokTokenizer.from_pretrained(model_args.tokenizer_name) if model_args.tokenizer_name else PerTokTokenizer()

    data = load_from_disk(data_args.dataset_dir)
    pick = dict(collections=data_args.collections, kinds=data_args.kinds, column="input_ids",
                max_length=data_args.max_length, seed=training_args.seed)
    train = select_rows(data["train"], max_samples=data_args.max_train_samples, **pick)
    evaluation = select_rows(data["validation"], max_samples=data_args.max_eval_samples, **pick)
    if len(train) == 0:
        raise SystemExit(f"{data_args.dataset_dir}: no training excerpts left after filtering")
    if len(evaluation) == 0:
        print("warning: the validation split is empty after filtering; training without evaluation")
        training_args.eval_strategy, evaluation = "no", None

    model = build_model(model_args, tok, data_args.max_length)
    trainer = LossTermsTrainer(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        data_collator=PerformerCollator(tok),
        processing_class=tok,
    )
    resume = last_checkpoint(training_args.output_dir, model_args.overwrite_output_dir)
    start = time.time()
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model()
    metrics = trainer.evaluate() if evaluation is not None else {}
    if trainer.is_world_process_zero():
        history = [h for h in trainer.state.log_history if "loss" in h]
        write_training_record(os.path.join(training_args.output_dir, "training_record.json"), {
            "command": "python " + " ".join([sys.argv[0], *(sys.argv[1:] if argv is None else argv)]),
            "resumed_from": resume,
            "train_examples": len(train),
            "eval_examples": len(evaluation) if evaluation is not None else 0,
            "parameters": model.num_parameters(),
            "global_step": trainer.state.global_step,
            "wall_seconds_this_run": round(time.time() - start, 1),
            "train_metrics": result.metrics,
            "eval_metrics": metrics,
            "last_logs": history[-3:],
            "data": asdict(data_args),
        })
        if training_args.push_to_hub:
            trainer.push_to_hub()
    return 0


if __name__ == "__main__":
    sys.exit(main())
