#!/usr/bin/env python
"""Benchmark the performer on CPU: inference latency and throughput, training tokens/s vs BERT.

    OMP_NUM_THREADS=1 python scripts/benchmark_performer.py --model runs/performer-groove \
        --dataset data/pop909_groove --markdown docs/benchmarks.md

- **Latency**: one 4-bar excerpt (the median-length one of the sample), ids in, filled ids
  out (``fill_performance_ids``, argmax), and the same through ``perform`` (fill plus decode
  to a ``symusic.Score``); median of ``--latency-runs`` after ``--warmup`` runs. With
  ``--steps N`` > 1 (default: the model's own ``config.unmask_steps``) also the coherent
  sampler the pipelines use: N passes of iterative unmasking, sampled at temperature 1.
- **Throughput**: one batch of ``--batch-size`` excerpts (default 32) per call; excerpts/s
  and tokens/s (real tokens, padding not counted), median over ``--throughput-runs``.
- **Training**: the performer and a stock ``BertForMaskedLM`` of the same size (vocab,
  hidden, layers, heads, intermediate, positions, dropout, LayerNorm eps) trained through
  the same ``Trainer`` on the same batches (``PerformerCollator``, sequential sampler) for
  ``--train-steps`` steps; tokens/s over the steps after ``--train-warmup``, the two models
  interleaved ``--repeats`` times (order alternating). Target: performer / BERT >= 0.9.

Excerpts come from ``--dataset`` (seeded sample; ``--split`` for inference, train for
training) or, without one, from seeded synthetic 4-bar excerpts (half drums, half piano,
notes on the 16th and triplet grids with microtiming). ``--model`` defaults to a randomly
initialised performer of ``--preset`` (small).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cadenza_hf.evaluation import reporting

SCRIPT = "scripts/benchmark_performer.py"
START_MARK, END_MARK = "<!-- performer-bench:start -->", "<!-- performer-bench:end -->"
TRAIN_RATIO_TARGET = 0.9


# ---- models and data ------------------------------------------------------------------------
def load_model(args):
    """The performer (trained from ``--model`` or random from ``--preset``) and its tokenizer."""
    import torch

    from cadenza_hf import CadenzaPerformerForMaskedLM, PerTokTokenizer

    if args.model:
        model = CadenzaPerformerForMaskedLM.from_pretrained(args.model, dtype=torch.float32)
        has_tok = Path(args.model, "tokenizer_config.json").is_file()
        return model.eval(), PerTokTokenizer.from_pretrained(args.model) if has_tok else PerTokTokenizer()
    tok = PerTokTokenizer()
    torch.manual_seed(args.seed)
    return CadenzaPerformerForMaskedLM(performer_config(args, tok)).eval(), tok


def performer_config(args, tok):
    from cadenza_hf import CadenzaPerformerConfig

    return CadenzaPerformerConfig.from_preset(
        args.preset,
        vocab_size=tok.vocab_size,
        pad_token_id=tok.pad_token_id,
        mask_token_id=tok.mask_token_id,
        velocity_token_ids=tok.velocity_ids,
        microtiming_token_ids=tok.microtiming_ids,
        max_position_embeddings=1024,
        **json.loads(args.config_overrides),
    )


def bert_like(config):
    """A stock ``BertForMaskedLM`` with the performer config's sizes."""
    from transformers import BertConfig, BertForMaskedLM

    bert = BertConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        intermediate_size=config.intermediate_size,
        hidden_act=config.hidden_act,
        hidden_dropout_prob=config.hidden_dropout,
        attention_probs_dropout_prob=config.attention_dropout,
        max_position_embeddings=config.max_position_embeddings,
        layer_norm_eps=config.layer_norm_eps,
        initializer_range=config.initializer_range,
        pad_token_id=config.pad_token_id,
    )
    return BertForMaskedLM(bert)


def synthetic_ids(tok, num: int, seed: int) -> list[list[int]]:
    """Seeded random 4-bar 4/4 excerpts (odd ones drums), encoded with ``tok``."""
    import symusic

    rng = np.random.default_rng(seed)
    grid = np.union1d(np.arange(0, 16 * 480, 120), np.arange(0, 16 * 480, 160))
    out = []
    for k in range(num):
        drums = k % 2 == 1
        n = int(rng.integers(30, 90))
        onsets = np.clip(np.sort(rng.choice(grid, n)) + rng.integers(-30, 31, n), 0, 16 * 480 - 40)
        pitches = rng.choice([36, 38, 42, 46, 49, 51], n) if drums else rng.integers(48, 84, n)
        score = symusic.Score(480)
        score.tempos.append(symusic.Tempo(0, qpm=100.0))
        score.time_signatures.append(symusic.TimeSignature(0, 4, 4))
        track = symusic.Track(program=0, is_drum=drums)
        for t, p, d, v in zip(onsets, pitches, rng.integers(60, 960, n), rng.integers(30, 120, n)):
            track.notes.append(symusic.Note(int(t), int(d), int(p), int(v)))
        score.tracks.append(track)
        out.append(tok.encode_midi(score, track=0, start_bar=0, bars=4))
    return out


def dataset_ids(path: str, split: str, num: int, seed: int, max_length: int) -> list[list[int]]:
    """A seeded sample of ``num`` full-id rows of ``split`` (no longer than ``max_length``)."""
    import pyarrow.compute as pc
    from datasets import load_from_disk

    data = load_from_disk(path)[split]
    lengths = pc.list_value_length(data.with_format("arrow")[:]["input_ids"]).to_numpy(zero_copy_only=False)
    index = np.flatnonzero(lengths <= max_length)
    if not len(index):
        raise SystemExit(f"{path}: no {split} rows of at most {max_length} tokens")
    chosen = np.random.default_rng(seed).choice(index, size=num, replace=len(index) < num)
    return [list(row["input_ids"]) for row in data.select(chosen.tolist()).select_columns(["input_ids"])]


def get_excerpts(args, tok, max_length: int) -> tuple[list, list, str]:
    """Inference excerpts (``--batch-size`` of them) and training rows, and where they came from."""
    n_train = args.train_steps * args.train_batch_size
    if args.dataset:
        infer = dataset_ids(args.dataset, args.split, args.batch_size, args.seed, max_length)
        train = dataset_ids(args.dataset, "train", n_train, args.seed + 1, max_length)
        return infer, train, f"`{args.dataset}` ({args.split} for inference, train for training; seed {args.seed})"
    rows = synthetic_ids(tok, max(args.batch_size, n_train), args.seed)
    return rows[: args.batch_size], rows[:n_train], f"synthetic 4-bar excerpts (seed {args.seed})"


# ---- inference ------------------------------------------------------------------------------
def _median_time(fn, runs: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_inference(model, tok, excerpts: list, args) -> dict:
    """Latency of one median-length excerpt and throughput of one batch of all ``excerpts``."""
    import torch

    from cadenza_hf.generation.performance import fill_performance_ids, perform

    one = sorted(excerpts, key=len)[len(excerpts) // 2]
    steps = args.steps or getattr(model.config, "unmask_steps", 1)
    generator = torch.Generator().manual_seed(args.seed)
    with torch.inference_mode():
        fill_s = _median_time(lambda: fill_performance_ids(model, tok, [one]), args.latency_runs, args.warmup)
        coherent_s = _median_time(
            lambda: fill_performance_ids(model, tok, [one], temperature=1.0, generator=generator, steps=steps),
            args.latency_runs,
            args.warmup,
        )
        perform_s = _median_time(lambda: perform(model, tok, one), args.latency_runs, args.warmup)
        batch_s = _median_time(
            lambda: fill_performance_ids(model, tok, excerpts, batch_size=len(excerpts)),
            args.throughput_runs,
            min(args.warmup, 2),
        )
    tokens = sum(len(e) for e in excerpts)
    return {
        "latency_tokens": len(one),
        "latency_fill_ms": 1000 * fill_s,
        "coherent_steps": steps,
        "latency_coherent_ms": 1000 * coherent_s,
        "latency_perform_ms": 1000 * perform_s,
        "batch": len(excerpts),
        "batch_seconds": batch_s,
        "excerpts_per_s": len(excerpts) / batch_s,
        "tokens_per_s": tokens / batch_s,
        "batch_tokens": tokens,
    }


# ---- training -------------------------------------------------------------------------------
class _CountingCollator:
    """Wraps a collator and records the real (unpadded) tokens of every batch it makes."""

    def __init__(self, inner):
        self.inner, self.tokens = inner, []

    def __call__(self, features):
        batch = self.inner(features)
        self.tokens.append(int(batch["attention_mask"].sum()))
        return batch


def train_tokens_per_s(model, tok, rows: list, args, out_dir: str) -> tuple[float, list[int]]:
    """Tokens/s of ``model`` trained for ``--train-steps`` steps on ``rows`` (in order), and
    the real tokens of each batch it saw (to check that every run saw the same batches)."""
    from datasets import Dataset
    from transformers import TrainerCallback, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    from cadenza_hf.data import PerformerCollator
    from cadenza_hf.training.trainer import LossTermsTrainer

    class StepClock(TrainerCallback):
        def __init__(self):
            self.ends = []

        def on_step_end(self, *a, **k):
            self.ends.append(time.perf_counter())

    clock, collator = StepClock(), _CountingCollator(PerformerCollator(tok))
    targs = TrainingArguments(
        output_dir=out_dir,
        max_steps=args.train_steps,
        per_device_train_batch_size=args.train_batch_size,
        learning_rate=5e-4,
        logging_strategy="no",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
        train_sampling_strategy="sequential",
        dataloader_pin_memory=False,
        remove_unused_columns=False,
        seed=args.seed,
    )
    trainer = LossTermsTrainer(
        model=model,
        args=targs,
        train_dataset=Dataset.from_dict({"input_ids": rows}),
        data_collator=collator,
        callbacks=[clock],
    )
    trainer.remove_callback(PrinterCallback)  # keep stdout to the report
    trainer.train()
    w, s = args.train_warmup, args.train_steps
    return sum(collator.tokens[w + 1 : s]) / (clock.ends[s - 1] - clock.ends[w]), collator.tokens[:s]


def measure_training(config, tok, rows: list, args) -> dict:
    """Interleaved training runs of the performer and the same-size BERT; tokens/s of each."""
    import torch

    from cadenza_hf import CadenzaPerformerForMaskedLM

    builders = {"performer": lambda: CadenzaPerformerForMaskedLM(config), "bert": lambda: bert_like(config)}
    runs = {name: [] for name in builders}
    params, batches = {}, []
    with tempfile.TemporaryDirectory() as out_dir:
        for r in range(args.repeats):
            for name in ["performer", "bert"] if r % 2 == 0 else ["bert", "performer"]:
                torch.manual_seed(args.seed)
                model = builders[name]()
                params[name] = model.num_parameters()
                tokens_per_s, seen = train_tokens_per_s(model, tok, rows, args, out_dir)
                runs[name].append(tokens_per_s)
                batches.append(seen)
    med = {name: statistics.median(v) for name, v in runs.items()}
    return {
        "runs": runs,
        "median": med,
        "parameters": params,
        "ratio": med["performer"] / med["bert"],
        "same_batches": all(b == batches[0] for b in batches),
        "batch_tokens": batches[0],
    }


# ---- report ---------------------------------------------------------------------------------
def machine_facts() -> list[str]:
    from importlib.metadata import version

    import torch

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"python {platform.python_version()} ({platform.machine()}, {platform.system()}), "
        f"CPUs: {os.cpu_count()} (usable {affinity})",
        f"torch {torch.__version__}, torch threads {torch.get_num_threads()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, transformers {version('transformers')}",
    ]


def render(result: dict) -> str:
    inf, tr, s = result["inference"], result["training"], result["settings"]
    cfg = result["config"]
    ok = tr["ratio"] >= TRAIN_RATIO_TARGET
    lines = [
        "## Performer speed",
        "",
        f"Command: `{result['command']}`",
        "",
        *[f"- {f}" for f in result["machine"]],
        f"- model: {s['model']} ({cfg['num_hidden_layers']} layers, hidden {cfg['hidden_size']}, "
        f"{cfg['num_attention_heads']} heads, intermediate {cfg['intermediate_size']}, vocab {cfg['vocab_size']}; "
        f"{tr['parameters']['performer']:,} parameters, BERT twin {tr['parameters']['bert']:,})",
        f"- excerpts: {s['excerpts']}",
        f"- total run time {result['wall_seconds']:.0f} s",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| latency, one excerpt ({inf['latency_tokens']} tokens), fill ids, one pass, argmax (median of "
        f"{s['latency_runs']}) "
        f"| {inf['latency_fill_ms']:.1f} ms |",
        f"| latency, one excerpt, coherent sampler ({inf['coherent_steps']} passes, T=1) "
        f"| {inf['latency_coherent_ms']:.1f} ms |",
        f"| latency, one excerpt, `perform` (fill + decode to Score) | {inf['latency_perform_ms']:.1f} ms |",
        f"| throughput, batch {inf['batch']} (median of {s['throughput_runs']}) "
        f"| {inf['excerpts_per_s']:.1f} excerpts/s |",
        f"| throughput, batch {inf['batch']}, real tokens | {inf['tokens_per_s']:.0f} tokens/s |",
        "",
        f"Training through `LossTermsTrainer` (the training scripts' Trainer), batch {s['train_batch_size']}, "
        f"{s['train_steps']} steps of which the first {s['train_warmup'] + 1} are not timed, "
        f"{s['repeats']} interleaved repeats (identical batches in every run: "
        f"{'yes' if tr['same_batches'] else 'NO'}); "
        "real (unpadded) tokens/s. BERT's extra parameters are its learned position and token-type "
        "embeddings and its MLM head transform:",
        "",
        "| model | " + " | ".join(f"run {i + 1}" for i in range(s["repeats"])) + " | median |",
        "|---|" + "---:|" * (s["repeats"] + 1),
    ]
    for name, label in (("performer", "CadenzaPerformerForMaskedLM"), ("bert", "BertForMaskedLM (same size)")):
        lines.append(
            f"| {label} | " + " | ".join(f"{v:.0f}" for v in tr["runs"][name]) + f" | {tr['median'][name]:.0f} |"
        )
    lines += [
        "",
        f"- {'PASS' if ok else 'FAIL'}: training tokens/s performer / BERT = {tr['ratio']:.3f} "
        f"(target >= {TRAIN_RATIO_TARGET})",
    ]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace the text between the performer-bench markers of ``path`` (create it if missing)."""
    reporting.write_section(path, section, START_MARK, END_MARK, "# Benchmarks\n", blank_line_after=False)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="trained performer folder (default: random --preset model)")
    p.add_argument("--preset", default="small", help="config preset without --model (default small)")
    p.add_argument("--config-overrides", default="{}", help="JSON of config fields over the preset")
    p.add_argument("--dataset", help="DatasetDict from scripts/build_dataset.py (default: synthetic excerpts)")
    p.add_argument("--split", default="validation", help="dataset split of the inference excerpts")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--steps", type=int, help="coherent sampler passes (default: the model's config.unmask_steps)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--latency-runs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--throughput-runs", type=int, default=5)
    p.add_argument("--train-steps", type=int, default=20)
    p.add_argument("--train-warmup", type=int, default=3, help="untimed training steps (default 3)")
    p.add_argument("--train-batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output-json", type=Path)
    p.add_argument("--markdown", type=Path, help="markdown file whose performer-bench section is (re)written")
    args = p.parse_args(argv)
    if args.train_steps < args.train_warmup + 2:
        p.error("--train-steps must exceed --train-warmup by at least 2")
    return args


def main(argv=None) -> dict:
    """Run the benchmark, print the markdown (command first) and return the result dict."""
    import torch

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    print("# " + reporting.command_line(argv, SCRIPT), flush=True)
    start = time.perf_counter()
    model, tok = load_model(args)
    infer, train_rows, source = get_excerpts(args, tok, model.config.max_position_embeddings)
    inference = measure_inference(model, tok, infer, args)
    print(f"# inference done at {time.perf_counter() - start:.0f} s", flush=True)
    config = model.config
    result = {
        "command": reporting.command_line(argv, SCRIPT),
        "machine": machine_facts(),
        "settings": {
            **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "model": args.model or f"random `{args.preset}` preset",
            "excerpts": source,
        },
        "config": {
            k: getattr(config, k)
            for k in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
        },
        "inference": inference,
        "training": measure_training(config, tok, train_rows, args),
    }
    result["wall_seconds"] = time.perf_counter() - start
    reporting.emit_result(
        result, render(result), args.output_json, args.markdown, write_section, section_name="performer-bench"
    )
    return result


if __name__ == "__main__":
    main()
