#!/usr/bin/env python
"""Train the Cadenza composer (transformer VAE) on composition tokens with ``Trainer``.

    python scripts/train_composer.py --config scripts/configs/composer_small.json \
        --dataset_dir data/pop909_groove --output_dir runs/composer-small

Any flag overrides the JSON preset. Re-running the same command resumes from the last
``checkpoint-*`` in ``--output_dir`` (``--overwrite_output_dir true`` starts over).
``--init_from DIR`` starts from trained weights with a fresh optimizer (a warm restart,
e.g. after moving to another machine). Runs unchanged under ``accelerate launch``
(several GPUs, ``--bf16 true``) and on CPU.
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

from cadenza_hf import CadenzaComposerConfig, CadenzaComposerModel, PerTokTokenizer
from cadenza_hf.data import ComposerCollator
from cadenza_hf.training import (
    KLSchedule,
    KLScheduleCallback,
    LossTermsTrainer,
    last_checkpoint,
    parse_script_args,
    select_rows,
    write_training_record,
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
    dataset_dir: str = field(default="", metadata={"help": "DatasetDict saved by scripts/build_dataset.py"})
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
    if model_args.init_from:
        return CadenzaComposerModel.from_pretrained(model_args.init_from)
    overrides = json.loads(model_args.config_overrides)
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


def main(argv=None) -> int:
    parser = HfArgumentParser((ModelArguments, DataArguments, KLArguments, TrainingArguments))
    model_args, data_args, kl_args, training_args = parse_script_args(parser, argv)
    if model_args.torch_threads:
        torch.set_num_threads(model_args.torch_threads)
    set_seed(training_args.seed)
    training_args.remove_unused_columns = False  # the collator reads composition_ids
    tok = PerTokTokenizer.from_pretrained(model_args.tokenizer_name) if model_args.tokenizer_name else PerTokTokenizer()

    data = load_from_disk(data_args.dataset_dir)
    pick = dict(collections=data_args.collections, kinds=data_args.kinds, column="composition_ids",
                max_length=data_args.max_length, seed=training_args.seed)
    train = select_rows(data["train"], max_samples=data_args.max_train_samples, **pick)
    evaluation = select_rows(data["validation"], max_samples=data_args.max_eval_samples, **pick)
    if len(train) == 0:
        raise SystemExit(f"{data_args.dataset_dir}: no training excerpts left after filtering")
    if len(evaluation) == 0:
        print("warning: the validation split is empty after filtering; training without evaluation")
        training_args.eval_strategy, evaluation = "no", None

    model = build_model(model_args, tok, data_args.max_length, kl_args.beta_max)
    schedule = KLSchedule(kl_args.beta_max, kl_args.kl_hold_steps, kl_args.kl_ramp_steps, kl_args.kl_cycle_steps,
                          kl_args.kl_rise_fraction)
    trainer = LossTermsTrainer(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        data_collator=ComposerCollator(tok),
        processing_class=tok,
        callbacks=[KLScheduleCallback(schedule)],
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
            "kl_schedule": asdict(schedule),
            "data": {"dataset_dir": data_args.dataset_dir, **asdict(data_args)},
        })
    return 0


if __name__ == "__main__":
    sys.exit(main())
