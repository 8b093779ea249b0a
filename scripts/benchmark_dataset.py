#!/usr/bin/env python
"""Benchmark dataset building: files/s and notes/s at several ``num_proc`` values.

Each run builds into a fresh, empty cache folder (so nothing is reused) and is timed
from file discovery to the finished DatasetDict. Example::

    python scripts/benchmark_dataset.py --input ../shared/data/pop909 --input ../shared/data/groove \
        --num-proc 1 2 --output docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

from cadenza_hf.data import BuildOptions, build_dataset


def run_once(inputs: list[str], num_proc: int, options: BuildOptions) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        dataset, summary = build_dataset(inputs, options, num_proc=num_proc, cache_dir=cache)
        seconds = time.perf_counter() - start
        notes = sum(sum(dataset[s]["note_count"]) for s in dataset)
        excerpts = sum(len(dataset[s]) for s in dataset)
    return {
        "num_proc": num_proc,
        "seconds": seconds,
        "files": summary.files_read,
        "excerpts": excerpts,
        "notes": notes,
        "rejected": sum(summary.files_rejected.values()),
    }


def table(results: list[dict]) -> str:
    lines = [
        "| num_proc | files | excerpts | notes in excerpts | wall s | files/s | notes/s | speed-up |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base = results[0]["seconds"]
    for r in results:
        lines.append(
            f"| {r['num_proc']} | {r['files']} | {r['excerpts']} | {r['notes']} | {r['seconds']:.1f} | "
            f"{r['files'] / r['seconds']:.1f} | {r['notes'] / r['seconds']:.0f} | {base / r['seconds']:.2f}x |"
        )
    return "\n".join(lines)


def write_section(path: str, body: str, name: str = "dataset") -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Benchmarks\n"
    block = f"{start}\n{body}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", action="append", required=True)
    p.add_argument("--num-proc", type=int, nargs="+", default=[1, 2])
    p.add_argument("--bars", type=int, default=4)
    p.add_argument("--output", help="markdown file whose dataset section is (re)written")
    args = p.parse_args(argv)
    options = BuildOptions(bars=args.bars)
    results = [run_once(args.input, n, options) for n in args.num_proc]
    command = "python scripts/benchmark_dataset.py " + " ".join(sys.argv[1:] if argv is None else argv)
    body = (
        f"## Dataset building\n\n`{command}`\n\n"
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}. Fresh cache folder per run; {args.bars}-bar windows, hop = bars.\n\n"
        + table(results)
    )
    print(body)
    if args.output:
        write_section(args.output, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
