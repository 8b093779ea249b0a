#!/usr/bin/env python
"""Benchmark the web app (``cadenza demo``): warm ``/vary`` latency, and the app under load.

    OMP_NUM_THREADS=1 python scripts/benchmark_app.py --markdown docs/benchmarks.md

- **Warm /vary**: ``cadenza demo`` runs in a subprocess on a free local port; after one
  untimed call, ``/vary`` (``-n`` variations of the example idea, one seed) is timed
  through ``gradio_client``, ``--repeats`` times: the request, composing, performing, WAV
  and piano-roll rendering, the zip, and the download of the MIDI files.
- **Fresh command**: ``cadenza vary idea.mid -n N -o OUT --seed S`` in a fresh process,
  ``--repeats`` times after one untimed run (it writes MIDI only: no audio, no plot).
- **Load**: ``--concurrent`` ``/vary`` calls at once from as many clients, with a
  malformed upload in the middle of them. The app queues them (one at a time on the
  models); each good call must return valid MIDI, the malformed one must fail alone with
  its one-line reason. The app process's peak resident memory (``VmHWM`` from
  ``/proc``) is read after start-up, after the warm calls and after the load.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cadenza_hf.evaluation import reporting

SCRIPT = "scripts/benchmark_app.py"
START_MARK = "<!-- app-bench:start -->"
END_MARK = "<!-- app-bench:end -->"
FILE_INTRO = "# Benchmarks\n\nMeasured numbers for cadenza_hf, each section written by the script named in it.\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


def start_demo(work: Path, env: dict, timeout: float = 600):
    port = free_port()
    log = open(work / "demo.log", "wb")  # noqa: SIM115 (closed by the caller through the process)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cadenza_hf.cli", "demo", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=work,
    )
    url, start = f"http://127.0.0.1:{port}/", time.perf_counter()
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"cadenza demo exited: {(work / 'demo.log').read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return proc, url, time.perf_counter() - start
        except OSError:
            if time.perf_counter() - start > timeout:
                proc.kill()
                raise SystemExit(f"cadenza demo did not answer in {timeout} s") from None
            time.sleep(0.5)


def summary(times: list[float]) -> dict:
    return {"median_s": statistics.median(times), "best_s": min(times), "runs": len(times)}


def vary_call(url: str, path: Path, n: int, seed: int):
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    start = time.perf_counter()
    files, _, _ = client.predict(handle_file(str(path)), num_variations=n, seed=seed, api_name="/vary")
    return time.perf_counter() - start, files


def check_midi(files: list[str], n: int) -> None:
    from cadenza_hf import read_midi

    assert len(files) == n, files
    for path in files:
        assert read_midi(path).note_num() > 0, path


def bench_command(args, idea: Path, work: Path, env: dict) -> dict:
    times = []
    for run in range(args.repeats + 1):
        cmd = [sys.executable, "-m", "cadenza_hf.cli", "vary", str(idea), "-n", str(args.num_variations)]
        cmd += ["-o", str(work / f"cli{run}"), "--seed", str(args.seed)]
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"cadenza vary failed: {done.stderr[-2000:]}")
        if run:
            times.append(time.perf_counter() - start)
    return summary(times)


def bench_app(args, idea: Path, bad: Path, work: Path, env: dict) -> dict:
    from gradio_client.exceptions import AppError

    proc, url, start_s = start_demo(work, env)
    try:
        rss_started = peak_rss_mib(proc.pid)
        vary_call(url, idea, args.num_variations, args.seed)  # warm-up
        warm = []
        for _ in range(args.repeats):
            seconds, files = vary_call(url, idea, args.num_variations, args.seed)
            check_midi(files, args.num_variations)
            warm.append(seconds)
        rss_warm = peak_rss_mib(proc.pid)
        uploads = [idea] * args.concurrent
        uploads.insert(len(uploads) // 2, bad)

        def call(path):
            try:
                return vary_call(url, path, args.num_variations, args.seed)
            except AppError as err:
                return err

        start = time.perf_counter()
        with ThreadPoolExecutor(len(uploads)) as pool:
            outcomes = list(pool.map(call, uploads))
        load_wall = time.perf_counter() - start
        rss_load = peak_rss_mib(proc.pid)
        failed = [i for i, o in enumerate(outcomes) if isinstance(o, Exception)]
        good = [o for o in outcomes if not isinstance(o, Exception)]
        for _, files in good:
            check_midi(files, args.num_variations)
        bad_index = len(uploads) // 2
        return {
            "start_s": start_s,
            "warm": summary(warm),
            "peak_rss_mib": {"started": rss_started, "warm": rss_warm, "after_load": rss_load},
            "load": {
                "calls": len(uploads),
                "succeeded": len(good),
                "failed_indices": failed,
                "malformed_index": bad_index,
                "malformed_error": str(outcomes[bad_index]) if bad_index in failed else None,
                "wall_s": load_wall,
                "latency_s": {"min": min(s for s, _ in good), "max": max(s for s, _ in good)},
            },
        }
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def render(result: dict) -> str:
    app, cli, load = result["app"], result["command"], result["app"]["load"]
    rss = app["peak_rss_mib"]
    s = result["settings"]
    ok = load["succeeded"] == load["calls"] - 1 and load["failed_indices"] == [load["malformed_index"]]
    lines = [
        "## Web app: `cadenza demo`",
        "",
        f"Command: `{result['command_line']}`",
        "",
        f"- {result['machine']}",
        f"- {s['num_variations']} variations of the example idea (`cadenza example`), seed {s['seed']}; "
        f"median and best of {s['repeats']} runs after one warm-up",
        f"- other processes running `train_*` during the measurement: {result['other_jobs']}",
        "",
        "| what | median s | best s |",
        "|---|---:|---:|",
        f"| `/vary` on the warm app (gradio_client: upload, compose, perform, WAV + piano roll per "
        f"variation, zip, download) | {app['warm']['median_s']:.2f} | {app['warm']['best_s']:.2f} |",
        f"| `cadenza vary` in a fresh process (start-up, imports, loading, model, MIDI only) | "
        f"{cli['median_s']:.2f} | {cli['best_s']:.2f} |",
        "",
        f"App start-up (process start to first answer, models loaded): {app['start_s']:.1f} s.",
        "",
        f"**Under load**: {load['calls']} `/vary` calls at once ({load['calls'] - 1} on the example idea, "
        f"a malformed upload as call {load['malformed_index'] + 1}), queued one at a time: "
        f"{load['succeeded']} succeeded with valid MIDI, failed: "
        f"{[i + 1 for i in load['failed_indices']] or 'none'} ({'as expected' if ok else 'NOT as expected'}; "
        f"its message: `{load['malformed_error']}`). All done in {load['wall_s']:.1f} s; "
        f"a good call took {load['latency_s']['min']:.1f}-{load['latency_s']['max']:.1f} s from submission, "
        "waiting in the queue included.",
        "",
        f"Peak resident memory of the app process (VmHWM): {rss['started']:.0f} MiB after start-up, "
        f"{rss['warm']:.0f} MiB after the warm calls, {rss['after_load']:.0f} MiB after the load.",
    ]
    return "\n".join(lines)


def write_section(path, section: str) -> None:
    reporting.write_section(path, section, START_MARK, END_MARK, FILE_INTRO)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--num-variations", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each kind (default 3)")
    parser.add_argument("--concurrent", type=int, default=8, help="good /vary calls sent at once (default 8)")
    parser.add_argument("--output-json", type=Path)
    parser.add_argument("--markdown", type=Path, help="(re)write the app-bench section of this file")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    command = reporting.command_line(argv, SCRIPT)
    print("# " + command, flush=True)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"), GRADIO_ANALYTICS_ENABLED="False")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        from cadenza_hf.examples import write_example_idea

        idea, bad = work / "idea.mid", work / "broken.mid"
        write_example_idea(idea)
        bad.write_bytes(idea.read_bytes()[:40])  # a MIDI file cut short
        result = {
            "command_line": command,
            "settings": vars(args) | {"output_json": None, "markdown": None},
            "machine": f"python {platform.python_version()} ({platform.machine()}), {os.cpu_count()} CPUs, "
            f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']}",
            "other_jobs": reporting.other_training_jobs(exclude="benchmark_app"),
            "app": bench_app(args, idea, bad, work, env),
            "command": bench_command(args, idea, work, env),
        }
    reporting.emit_result(result, render(result), args.output_json, args.markdown, write_section, section_name="app")
    return result


if __name__ == "__main__":
    main()
