#!/usr/bin/env python
"""Benchmark the composer on CPU: training throughput and generation speed against stock transformers models.

    OMP_NUM_THREADS=1 python scripts/benchmark_composer.py --dataset_dir data/pop909_groove \
        --markdown docs/benchmarks.md --output-json runs/benchmark_composer.json

(a) Training tokens/s of the composer against a stock encoder + decoder of the same width
and depth: a ``BertModel`` (the composer's encoder layers) whose first hidden state is
added to the input embeddings of a ``GPT2LMHeadModel`` (its decoder layers), so the loss
back-propagates through both, as the composer's does through its latent. Both run through
the same ``Trainer`` subclass (the training script's ``LossTermsTrainer``) with the same
arguments on the same pre-collated ``ComposerCollator`` batches (or synthetic batches of
realistic lengths without a dataset), in the same order; tokens/s counts non-pad tokens
of the timed steps (after the warm-up steps). Repeats alternate the two models.

(b) Generation: 4 greedy variations of the project's example idea
(``cadenza_hf.examples.example_idea``). The composer's grammar-constrained run fixes the
number of decoding steps; every other configuration generates exactly that many new
tokens (``min_new_tokens = max_new_tokens``): the composer without the grammar processor,
each with and without the KV cache, and a ``GPT2LMHeadModel`` of the decoder's size.
Best of ``--gen-repeats`` interleaved rounds. Throughput does not depend on training, so
a randomly initialised ``small`` preset is the default model.
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

import torch
from torch import nn

from cadenza_hf.evaluation import reporting

START_MARK = "<!-- composer-bench:start -->"
END_MARK = "<!-- composer-bench:end -->"
FILE_INTRO = "# Benchmarks\n\nMeasured numbers for cadenza_hf, each section written by the script named in it.\n"
DEFAULT_DATASET = "data/pop909_groove"
TRAIN_TARGET, CACHE_TARGET, GPT2_TARGET = 0.9, 3.0, 0.9


# ---- models --------------------------------------------------------------------------
def load_composer(args):
    """The composer (``--model`` or a random ``--preset`` with ``--config-overrides``) and the tokenizer."""
    from cadenza_hf import CadenzaComposerConfig, CadenzaComposerModel, PerTokTokenizer

    tok_dir = args.tokenizer or args.model
    tokenizer = PerTokTokenizer.from_pretrained(tok_dir) if tok_dir else PerTokTokenizer()
    if args.model:
        return CadenzaComposerModel.from_pretrained(args.model), tokenizer
    torch.manual_seed(args.seed)
    config = CadenzaComposerConfig.from_preset(
        args.preset,
        vocab_size=tokenizer.vocab_size,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **json.loads(args.config_overrides),
    )
    return CadenzaComposerModel(config), tokenizer


def gpt2_like(config, positions: int):
    """A ``GPT2LMHeadModel`` as wide and deep as the composer's decoder (same dropouts, tied embeddings)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(
        GPT2Config(
            vocab_size=config.vocab_size,
            n_positions=positions,
            n_embd=config.hidden_size,
            n_layer=config.num_decoder_layers,
            n_head=config.num_attention_heads,
            n_inner=config.intermediate_size,
            resid_pdrop=config.hidden_dropout,
            embd_pdrop=config.hidden_dropout,
            attn_pdrop=config.attention_dropout,
            layer_norm_epsilon=config.layer_norm_eps,
            bos_token_id=config.bos_token_id,
            eos_token_id=config.eos_token_id,
            pad_token_id=config.pad_token_id,
        )
    )


def bert_like(config, positions: int):
    """A ``BertModel`` (no pooler) as wide and deep as the composer's encoder."""
    from transformers import BertConfig, BertModel

    return BertModel(
        BertConfig(
            vocab_size=config.vocab_size,
            hidden_size=config.hidden_size,
            num_hidden_layers=config.num_encoder_layers,
            num_attention_heads=config.num_attention_heads,
            intermediate_size=config.intermediate_size,
            hidden_dropout_prob=config.hidden_dropout,
            attention_probs_dropout_prob=config.attention_dropout,
            max_position_embeddings=positions,
            layer_norm_eps=config.layer_norm_eps,
            pad_token_id=config.pad_token_id,
        ),
        add_pooling_layer=False,
    )


class StockEncoderDecoder(nn.Module):
    """BERT encoder + GPT-2 decoder with the composer's amount of work.

    The encoder's first hidden state is added to every decoder input embedding (the
    cheapest conditioning that makes the loss depend on the encoder), so training runs
    forward and backward through both stacks, like the composer through its latent.
    ``positions`` sizes the learned position tables (the composer uses RoPE and has none).
    """

    def __init__(self, config, positions: int):
        super().__init__()
        self.encoder = bert_like(config, positions)
        self.decoder = gpt2_like(config, positions)

    def forward(self, input_ids, attention_mask=None, labels=None):
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, :1]  # (B, 1, d)
        embeds = self.decoder.transformer.wte(input_ids) + h
        return {"loss": self.decoder(inputs_embeds=embeds, attention_mask=attention_mask, labels=labels).loss}


def position_table_size(config, args) -> int:
    """Positions the stock models need: the composer's nominal maximum, or more if the benchmark needs it."""
    return max(config.max_position_embeddings, args.max_length, 1 + args.max_new_tokens)


def num_parameters(model: nn.Module) -> int:
    """Distinct parameters (tied weights once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


# ---- (a) training throughput ---------------------------------------------------------
def training_batches(args, tokenizer, count: int) -> tuple[list[dict], str]:
    """``count`` ComposerCollator batches of seeded dataset rows, or synthetic ones; and where they came from."""
    from cadenza_hf.data import ComposerCollator

    collate = ComposerCollator(tokenizer)
    need = count * args.batch_size
    if args.dataset_dir and Path(args.dataset_dir).is_dir() and not args.synthetic:
        from datasets import load_from_disk

        data = load_from_disk(args.dataset_dir)["train"]
        data = data.filter(lambda ids: len(ids) <= args.max_length, input_columns="composition_ids")
        rows = data.shuffle(seed=args.seed).select(range(min(need, len(data))))["composition_ids"]
        source = f"`{args.dataset_dir}` train split, seeded random rows (<= {args.max_length} tokens)"
    else:
        g = torch.Generator().manual_seed(args.seed)
        lengths = torch.randint(40, 260, (need,), generator=g).tolist()  # composition lengths of 4-bar excerpts
        rows = [
            [tokenizer.bos_token_id]
            + torch.randint(4, tokenizer.vocab_size, (n - 2,), generator=g).tolist()
            + [tokenizer.eos_token_id]
            for n in lengths
        ]
        source = "synthetic random ids, lengths uniform in [40, 260)"
    rows = [list(r) for r in rows] * (-(-need // max(len(rows), 1)))
    batches = [
        collate([{"composition_ids": r} for r in rows[i : i + args.batch_size]])
        for i in range(0, need, args.batch_size)
    ]
    return batches, source


def timed_trainer_class():
    """``LossTermsTrainer`` that records (end time, tokens) of every training step."""
    from cadenza_hf.training.trainer import LossTermsTrainer

    class TimedTrainer(LossTermsTrainer):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.marks: list[tuple[float, int]] = []

        def training_step(self, model, inputs, num_items_in_batch=None):
            loss = super().training_step(model, inputs, num_items_in_batch)
            self.marks.append((time.perf_counter(), int(inputs["attention_mask"].sum())))
            return loss

    return TimedTrainer


def train_tokens_per_second(model: nn.Module, batches: list[dict], args) -> float:
    """Train ``model`` for warm-up + timed steps on ``batches`` (in order); tokens/s of the timed steps."""
    from transformers import PrinterCallback, TrainingArguments

    steps = args.warmup_steps + args.steps
    with tempfile.TemporaryDirectory() as out:
        training_args = TrainingArguments(
            output_dir=out,
            max_steps=steps,
            per_device_train_batch_size=1,
            learning_rate=5e-4,
            weight_decay=0.01,
            max_grad_norm=1.0,
            lr_scheduler_type="constant",
            train_sampling_strategy="sequential",
            logging_strategy="no",
            save_strategy="no",
            eval_strategy="no",
            report_to="none",
            use_cpu=True,
            disable_tqdm=True,
            dataloader_num_workers=0,
            remove_unused_columns=False,
            seed=args.seed,
        )
        trainer = timed_trainer_class()(
            model=model, args=training_args, train_dataset=batches[:steps], data_collator=lambda items: items[0]
        )
        trainer.remove_callback(PrinterCallback)  # no per-run log lines in the report
        trainer.train()
    marks = trainer.marks
    start = marks[args.warmup_steps - 1][0] if args.warmup_steps else None
    timed = marks[args.warmup_steps :]
    if start is None:  # no warm-up: time from the first step's end
        start, timed = marks[0][0], marks[1:]
    seconds = timed[-1][0] - start if timed else 0.0
    return sum(n for _, n in timed) / seconds if seconds > 0 else 0.0


def bench_training(args, composer, tokenizer) -> dict:
    """Interleaved repeats of composer vs stock pair; best and median tokens/s of each."""
    from cadenza_hf import CadenzaComposerModel

    batches, source = training_batches(args, tokenizer, args.warmup_steps + args.steps)
    config, positions = composer.config, position_table_size(composer.config, args)
    builders = {
        "composer": lambda: CadenzaComposerModel(config),
        "stock": lambda: StockEncoderDecoder(config, positions),
    }
    results = {name: [] for name in builders}
    for r in range(args.repeats):
        for name in list(builders) if r % 2 == 0 else list(builders)[::-1]:
            torch.manual_seed(args.seed)
            tps = train_tokens_per_second(builders[name](), batches, args)
            results[name].append(tps)
            print(f"# train repeat {r + 1}: {name} {tps:.0f} tokens/s", flush=True)
    tokens = [int(b["attention_mask"].sum()) for b in batches]
    return {
        "batches": source,
        "batch_size": args.batch_size,
        "warmup_steps": args.warmup_steps,
        "steps": args.steps,
        "mean_tokens_per_batch": sum(tokens) / len(tokens),
        "mean_padded_length": sum(b["input_ids"].shape[1] for b in batches) / len(batches),
        "parameters": {
            "composer": num_parameters(CadenzaComposerModel(config)),
            "stock": num_parameters(StockEncoderDecoder(config, positions)),
        },
        "tokens_per_second": results,
        "best": {k: max(v) for k, v in results.items()},
        "median": {k: statistics.median(v) for k, v in results.items()},
        "ratio": max(results["composer"]) / max(max(results["stock"]), 1e-9),
    }


# ---- (b) generation --------------------------------------------------------------------
def idea_latents(composer, tokenizer, args) -> tuple[torch.Tensor, int]:
    """``--num-variations`` latents of the example idea at ``--strength`` (seeded), and its length in tokens."""
    from cadenza_hf.examples import example_idea
    from cadenza_hf.modeling.composer import LatentDistribution

    ids = tokenizer.composition_ids(tokenizer.encode_midi(example_idea()))
    x = torch.tensor([ids], dtype=torch.long)
    with torch.no_grad():
        posterior = composer.encode(x, torch.ones_like(x))
    n = args.num_variations
    expanded = LatentDistribution(posterior.mean.expand(n, -1), posterior.logvar.expand(n, -1))
    generator = torch.Generator().manual_seed(args.seed)
    return composer.sample_latent(expanded, args.strength, generator=generator), len(ids)


def composer_run(composer, tokenizer, latents, args, use_cache: bool, grammar: bool, new_tokens: int | None):
    """A timed-able closure: greedy composer generation; returns the number of new tokens per row."""
    from transformers import LogitsProcessorList

    from cadenza_hf.generation.logits_process import PerTokGrammarLogitsProcessor

    bos = torch.full((latents.shape[0], 1), tokenizer.bos_token_id, dtype=torch.long)

    def run() -> int:
        kwargs = {"max_new_tokens": new_tokens or args.max_new_tokens}
        if grammar:
            proc = PerTokGrammarLogitsProcessor(tokenizer, bars=4, max_length=1 + kwargs["max_new_tokens"])
            kwargs["logits_processor"] = LogitsProcessorList([proc])
        if new_tokens and not grammar:
            kwargs["min_new_tokens"] = new_tokens
        out = composer.generate(
            input_ids=bos,
            latent=latents,
            do_sample=False,
            use_cache=use_cache,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **kwargs,
        )
        return out.shape[1] - 1

    return run


def gpt2_run(gpt2, tokenizer, batch: int, new_tokens: int, use_cache: bool = True):
    bos = torch.full((batch, 1), tokenizer.bos_token_id, dtype=torch.long)

    def run() -> int:
        out = gpt2.generate(
            input_ids=bos,
            attention_mask=torch.ones_like(bos),
            do_sample=False,
            use_cache=use_cache,
            min_new_tokens=new_tokens,
            max_new_tokens=new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        return out.shape[1] - 1

    return run


def vary_run(composer, tokenizer, args):
    """End to end through the public API: ``vary()`` (encode, latents, grammar-constrained greedy decode)."""
    from cadenza_hf.examples import example_idea
    from cadenza_hf.generation.variation import ComposeOptions, vary

    ids = tokenizer.composition_ids(tokenizer.encode_midi(example_idea()))
    options = ComposeOptions(temperature=0.0, max_new_tokens=args.max_new_tokens)

    def run() -> int:
        rows = vary(composer, tokenizer, ids, args.num_variations, args.strength, options, seed=args.seed)
        return max(len(r) for r in rows) - 1

    return run


def best_times(runs: dict, repeats: int) -> dict[str, dict]:
    """Warm each run up once, then time ``repeats`` interleaved rounds; best and median seconds."""
    steps = {name: run() for name, run in runs.items()}
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            steps[name] = run()
            times[name].append(time.perf_counter() - start)
    return {
        name: {"new_tokens": steps[name], "best_s": min(t), "median_s": statistics.median(t)}
        for name, t in times.items()
    }


def bench_generation(args, composer, tokenizer) -> dict:
    """Composer (grammar on/off, cache on/off) vs GPT-2, all producing the same number of new tokens."""
    composer.eval()
    latents, idea_len = idea_latents(composer, tokenizer, args)
    with torch.no_grad():
        steps = composer_run(composer, tokenizer, latents, args, True, True, None)()
    torch.manual_seed(args.seed)
    gpt2 = gpt2_like(composer.config, position_table_size(composer.config, args)).eval()
    n = args.num_variations
    runs = {
        "composer, grammar, cache": composer_run(composer, tokenizer, latents, args, True, True, None),
        "composer, grammar, no cache": composer_run(composer, tokenizer, latents, args, False, True, None),
        "composer, no grammar, cache": composer_run(composer, tokenizer, latents, args, True, False, steps),
        "composer, no grammar, no cache": composer_run(composer, tokenizer, latents, args, False, False, steps),
        "GPT2LMHeadModel, cache": gpt2_run(gpt2, tokenizer, n, steps),
        "GPT2LMHeadModel, no cache": gpt2_run(gpt2, tokenizer, n, steps, use_cache=False),
        "vary() end to end (encode + grammar + cache)": vary_run(composer, tokenizer, args),
    }
    timings = best_times(runs, args.gen_repeats)
    for t in timings.values():
        t["tokens_per_second"] = n * t["new_tokens"] / t["best_s"]
    tps = {k: v["tokens_per_second"] for k, v in timings.items()}
    return {
        "idea_tokens": idea_len,
        "variations": n,
        "strength": args.strength,
        "steps": steps,
        "timings": timings,
        "cache_speedup_grammar": tps["composer, grammar, cache"] / tps["composer, grammar, no cache"],
        "cache_speedup_no_grammar": tps["composer, no grammar, cache"] / tps["composer, no grammar, no cache"],
        "vs_gpt2_no_grammar": tps["composer, no grammar, cache"] / tps["GPT2LMHeadModel, cache"],
        "vs_gpt2_grammar": tps["composer, grammar, cache"] / tps["GPT2LMHeadModel, cache"],
        "grammar_cost": 1 - tps["composer, grammar, cache"] / tps["composer, no grammar, cache"],
        "parameters": {
            "composer decoder": num_parameters(composer.decoder) + num_parameters(composer.embed_tokens),
            "GPT2LMHeadModel": num_parameters(gpt2),
        },
    }


# ---- report ----------------------------------------------------------------------------
def md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def verdict(value: float, target: float) -> str:
    return f"**{value:.2f}x** (target >= {target:g}x: **{'PASS' if value >= target else 'FAIL'}**)"


def training_section(t: dict) -> list[str]:
    rows = [
        [
            name,
            f"{t['parameters'][name]:,}",
            f"{t['best'][name]:,.0f}",
            f"{t['median'][name]:,.0f}",
            ", ".join(f"{v:,.0f}" for v in t["tokens_per_second"][name]),
        ]
        for name in ("composer", "stock")
    ]
    rows[1][0] = "BertModel + GPT2LMHeadModel"
    return [
        "### Training throughput",
        "",
        f"Same `Trainer` (`LossTermsTrainer`), same arguments, same {t['warmup_steps']} + {t['steps']} batches of "
        f"{t['batch_size']} in the same order ({t['batches']}; mean {t['mean_tokens_per_batch']:.0f} real tokens, "
        f"padded length {t['mean_padded_length']:.0f}); tokens/s over the {t['steps']} steps after "
        f"{t['warmup_steps']} warm-up steps; repeats alternate the models.",
        "",
        md_table(["model", "parameters", "best tokens/s", "median tokens/s", "all repeats"], rows),
        "",
        f"Composer / stock (best): {verdict(t['ratio'], TRAIN_TARGET)}",
    ]


def generation_section(g: dict) -> list[str]:
    rows = [
        [name, v["new_tokens"], f"{v['best_s']:.3f}", f"{v['median_s']:.3f}", f"{v['tokens_per_second']:,.0f}"]
        for name, v in g["timings"].items()
    ]
    return [
        "### Generation",
        "",
        f"{g['variations']} greedy variations (strength {g['strength']:g}) of the example idea "
        f"({g['idea_tokens']} composition tokens). The grammar-constrained composer run took {g['steps']} steps; "
        "every other run generates exactly that many new tokens per row. tokens/s = rows x new tokens / best "
        f"time. Parameters: composer decoder + embeddings {g['parameters']['composer decoder']:,}, "
        f"GPT2LMHeadModel {g['parameters']['GPT2LMHeadModel']:,}.",
        "",
        md_table(["configuration", "new tokens", "best s", "median s", "tokens/s"], rows),
        "",
        f"- KV cache speed-up, grammar on: {verdict(g['cache_speedup_grammar'], CACHE_TARGET)}; "
        f"grammar off: {g['cache_speedup_no_grammar']:.2f}x",
        "- composer / GPT-2 tokens/s, both without a grammar processor: "
        f"{verdict(g['vs_gpt2_no_grammar'], GPT2_TARGET)}; "
        f"composer with the grammar processor / GPT-2: {g['vs_gpt2_grammar']:.2f}x",
        f"- cost of the grammar processor: {100 * g['grammar_cost']:.0f}% of the cached composer's tokens/s",
    ]


def render(result: dict) -> str:
    s = result["settings"]
    model = f"`{s['model']}`" if s["model"] else f"random `{s['preset']}` preset {s['config_overrides']}"
    lines = [
        "## Composer benchmarks",
        "",
        "Training and generation speed of `CadenzaComposerModel` on CPU against stock transformers models of the "
        "same size. Produced by `scripts/benchmark_composer.py`.",
        "",
        f"Command: `{result['command']}`",
        "",
        f"- model: {model}; torch threads {s['threads']}",
        f"- {result['machine']}",
        f"- other processes running `train_*` during the run: {result['other_training_jobs']}"
        + (" (numbers are noisy)" if result["other_training_jobs"] else ""),
        "",
    ]
    if result.get("training"):
        lines += training_section(result["training"]) + [""]
    if result.get("generation"):
        lines += generation_section(result["generation"])
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace the text between the composer-bench markers of ``path`` (append, or create the file)."""
    reporting.write_section(path, section, START_MARK, END_MARK, FILE_INTRO)


# ---- main --------------------------------------------------------------------------------
def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="trained composer folder (default: random --preset)")
    parser.add_argument("--tokenizer", default=None, help="tokenizer folder (default: --model, or PerTok defaults)")
    parser.add_argument("--preset", default="small", help="config preset of the random model (default small)")
    parser.add_argument("--config-overrides", default="{}", help="JSON of config fields over the preset")
    parser.add_argument(
        "--dataset_dir",
        "--dataset-dir",
        default=DEFAULT_DATASET,
        help="training batches from this DatasetDict's train split (synthetic when missing)",
    )
    parser.add_argument("--synthetic", action="store_true", help="synthetic batches even if the dataset exists")
    parser.add_argument("--batch-size", type=int, default=16, help="training batch size (default 16, as training)")
    parser.add_argument("--max-length", type=int, default=768, help="longest training row (default 768)")
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30, help="timed training steps (default 30)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved training repeats (default 3)")
    parser.add_argument("--num-variations", type=int, default=4)
    parser.add_argument("--strength", type=float, default=0.5, help="variation strength of the latents")
    parser.add_argument(
        "--max-new-tokens", type=int, default=256, help="token budget of the grammar-constrained run (default 256)"
    )
    parser.add_argument("--gen-repeats", type=int, default=5, help="timed generation rounds, best kept (default 5)")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--skip-generation", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-json", type=Path)
    parser.add_argument("--markdown", type=Path, help="(re)write the composer-bench section of this file")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    """Run the benchmarks, print the markdown, write JSON / the markdown section; return the result."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    command = reporting.command_line(argv, "scripts/benchmark_composer.py")
    print("# " + command, flush=True)
    start = time.perf_counter()
    composer, tokenizer = load_composer(args)
    result = {
        "command": command,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": f"python {platform.python_version()} ({platform.machine()}), torch {torch.__version__}, "
        f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}",
        "other_training_jobs": reporting.other_training_jobs(exclude="benchmark_composer"),
        "training": None if args.skip_training else bench_training(args, composer, tokenizer),
        "generation": None if args.skip_generation else bench_generation(args, composer, tokenizer),
    }
    result["total_seconds"] = time.perf_counter() - start
    reporting.emit_result(result, render(result), args.output_json, args.markdown, write_section)
    return result


if __name__ == "__main__":
    main()
