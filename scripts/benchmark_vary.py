#!/usr/bin/env python
"""Benchmark ``cadenza vary`` end to end: 4 variations of the example idea on CPU.

    OMP_NUM_THREADS=1 python scripts/benchmark_vary.py --markdown docs/benchmarks.md

Three figures, each the median (and best) of ``--repeats`` runs after one untimed warm-up:

- **Command**: ``cadenza vary idea.mid -n 4 -o OUT --seed S`` as a fresh process, the way a
  user runs it: interpreter start-up, imports, model loading, composing, performing and
  writing the files. ``cadenza --help`` in a fresh process is timed too (it must not load
  torch).
- **Load**: in this process, ``pipeline("midi-variation")`` with the shipped checkpoints
  (or ``--composer``/``--performer``): reading config, weights and tokenizers.
- **Model time**: in this process, the loaded pipeline's call alone on the same idea with
  the same options (encode, decode with the grammar, perform, write MIDI bytes in memory).

Every run uses the same seed, so every run does the same work; the output files of the
command runs are checked to be identical across runs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cadenza_hf.evaluation import reporting

SCRIPT = "scripts/benchmark_vary.py"
START_MARK = "<!-- vary-bench:start -->"
END_MARK = "<!-- vary-bench:end -->"
FILE_INTRO = "# Benchmarks\n\nMeasured numbers for cadenza_hf, each section written by the script named in it.\n"


def cadenza_command() -> list[str]:
    """How to start the ``cadenza`` console script with this interpreter."""
    return [sys.executable, "-m", "cadenza_hf.cli"]


def run_timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def summary(times: list[float]) -> dict:
    return {"median_s": statistics.median(times), "best_s": min(times), "runs": len(times)}


def bench_command(args, idea: Path, work: Path, env: dict) -> dict:
    base = cadenza_command()
    models = (["--composer", args.composer] if args.composer else []) + sum(
        (["--performer", p] for p in args.performer or []), []
    )
    help_times = [run_timed(base + ["--help"], env) for _ in range(args.repeats)]
    import_cmd = [sys.executable, "-c", "import cadenza_hf, transformers.pipelines"]
    import_times = [run_timed(import_cmd, env) for _ in range(args.repeats)]
    vary_times, digests = [], set()
    for run in range(args.repeats + 1):  # run 0 warms the file cache
        out = work / f"vary{run}"
        cmd = base + [
            "vary",
            str(idea),
            "-n",
            str(args.num_variations),
            "-o",
            str(out),
            "--seed",
            str(args.seed),
            "--bars",
            str(args.bars),
            *models,
        ]
        seconds = run_timed(cmd, env)
        digests.add(folder_digest(out))
        if run:
            vary_times.append(seconds)
    return {
        "help": summary(help_times),
        "import": summary(import_times),
        "vary": summary(vary_times),
        "identical_outputs": len(digests) == 1,
    }


def bench_in_process(args, idea: Path) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from transformers import pipeline

    import cadenza_hf  # noqa: F401  (registers the pipelines)
    from cadenza_hf.hub import defaults

    # the task's registered default is read on import; resolve it now ($CADENZA_CHECKPOINTS)
    kwargs = {"model": args.composer or str(defaults.checkpoint_dir(defaults.COMPOSER))}
    if args.performer:
        kwargs["performer"] = args.performer if len(args.performer) > 1 else args.performer[0]
    load_times, pipe = [], None
    for _ in range(args.repeats + 1):
        start = time.perf_counter()
        pipe = pipeline("midi-variation", **kwargs)
        load_times.append(time.perf_counter() - start)
    call = dict(num_variations=args.num_variations, seed=args.seed, bars=args.bars)
    results = pipe(str(idea), **call)  # warm-up
    tokens = sum(len(r["composition_ids"]) for r in results)
    call_times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        pipe(str(idea), **call)
        call_times.append(time.perf_counter() - start)
    return {"load": summary(load_times[1:]), "call": summary(call_times), "composition_tokens": tokens}


def render(result: dict) -> str:
    cmd, proc = result["command_runs"], result["in_process"]
    lines = [
        "## End to end: `cadenza vary`",
        "",
        f"Command: `{result['command']}`",
        "",
        f"- {result['machine']}",
        f"- models: {result['models']}",
        f"- {result['settings']['num_variations']} variations of the example idea "
        f"(`cadenza example`), {result['settings']['bars']} bars, seed {result['settings']['seed']}; "
        f"median and best of {result['settings']['repeats']} runs after one warm-up",
        f"- other processes running `train_*` during the measurement: {result['other_jobs']}",
        "",
        "| what | median s | best s |",
        "|---|---:|---:|",
        f"| `cadenza --help` (fresh process) | {cmd['help']['median_s']:.2f} | {cmd['help']['best_s']:.2f} |",
        f"| `cadenza vary` (fresh process: start-up, imports, loading, model, writing) | "
        f"{cmd['vary']['median_s']:.2f} | {cmd['vary']['best_s']:.2f} |",
        f"| `import cadenza_hf, transformers.pipelines` (fresh process) | {cmd['import']['median_s']:.2f} | "
        f"{cmd['import']['best_s']:.2f} |",
        f'| `pipeline("midi-variation")` (loading the models) | {proc["load"]["median_s"]:.2f} | '
        f"{proc['load']['best_s']:.2f} |",
        f"| model time alone: the pipeline call | {proc['call']['median_s']:.2f} | {proc['call']['best_s']:.2f} |",
        "",
        f"The pipeline call wrote {proc['composition_tokens']} composition tokens in all "
        f"({proc['composition_tokens'] / proc['call']['median_s']:.0f} tokens/s at the median, performer included). "
        f"Same seed, same bytes across the command runs: {'yes' if cmd['identical_outputs'] else 'NO'}.",
    ]
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--composer", default=None, help="composer folder (default: the shipped one)")
    parser.add_argument("--performer", action="append", default=None, help="performer folder(s) (default: shipped)")
    parser.add_argument("-n", "--num-variations", type=int, default=4)
    parser.add_argument("--bars", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each kind (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in this process (default 1)")
    parser.add_argument("--output-json", type=Path)
    parser.add_argument("--markdown", type=Path, help="(re)write the vary-bench section of this file")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    command = reporting.command_line(argv, SCRIPT)
    print("# " + command, flush=True)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", str(args.threads)))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        idea = work / "idea.mid"
        from cadenza_hf.examples import write_example_idea

        write_example_idea(idea)
        result = {
            "command": command,
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "machine": f"python {platform.python_version()} ({platform.machine()}), {os.cpu_count()} CPUs, "
            f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']}",
            "models": f"composer {args.composer or 'shipped'}, performers {args.performer or 'shipped'}",
            "other_jobs": reporting.other_training_jobs(exclude="benchmark_vary"),
            "command_runs": bench_command(args, idea, work, env),
            "in_process": bench_in_process(args, idea),
        }
    reporting.emit_result(
        result, render(result), args.output_json, args.markdown, write_section, section_name="vary-bench"
    )
    return result


def write_section(path: Path, section: str) -> None:
    reporting.write_section(path, section, START_MARK, END_MARK, FILE_INTRO)


if __name__ == "__main__":
    main()
