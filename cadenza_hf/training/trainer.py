"""Training helpers shared by the composer and performer training entry points.

- :class:`KLSchedule` / :class:`KLScheduleCallback`: the paper's beta schedule (§4.1):
  beta held at 0, raised linearly to its maximum, then cosine cyclical annealing
  (Fu et al., 2019) with a fixed period.
- :class:`LossTermsTrainer`: a ``Trainer`` that also logs the named loss terms a model
  returns (reconstruction, KL, KL before free bits) and the current beta.
- :func:`tokens_per_second`: a callback that measures training throughput.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from transformers import Trainer, TrainerCallback

from ..tokenization.kinds import normalize_kind


@dataclass
class KLSchedule:
    """Beta as a function of the optimisation step.

    Args:
        beta_max: the largest beta (paper Balanced-KL: 0.3).
        hold_steps: steps with beta = 0 at the start (paper: 25,000).
        ramp_steps: steps of the linear rise to ``beta_max`` (paper: 25,000).
        cycle_steps: period of the cosine cycles that follow (paper: 10,000; 0 = none).
        rise_fraction: share of each cycle spent rising (cosine) before holding at max.
    """

    beta_max: float = 0.3
    hold_steps: int = 25_000
    ramp_steps: int = 25_000
    cycle_steps: int = 10_000
    rise_fraction: float = 0.5

    def __call__(self, step: int) -> float:
        if step < self.hold_steps:
            return 0.0
        step -= self.hold_steps
        if step < self.ramp_steps:
            return self.beta_max * step / max(1, self.ramp_steps)
        if self.cycle_steps <= 0:
            return self.beta_max
        phase = ((step - self.ramp_steps) % self.cycle_steps) / self.cycle_steps
        rise = min(1.0, phase / self.rise_fraction) if self.rise_fraction > 0 else 1.0
        return self.beta_max * 0.5 * (1.0 - math.cos(math.pi * rise))


class KLScheduleCallback(TrainerCallback):
    """Sets ``model.kl_beta`` from a :class:`KLSchedule` before every step."""

    def __init__(self, schedule: KLSchedule):
        self.schedule = schedule

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if model is not None:
            model.kl_beta = self.schedule(state.global_step)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.on_step_begin(args, state, control, model=model)


class LossTermsTrainer(Trainer):
    """A ``Trainer`` that logs the mean of named loss terms from the model output.

    ``Trainer`` logs only ``loss``; the composer also returns ``reconstruction_loss``,
    ``kl_loss``, ``kl_loss_raw`` and (with a bag-of-words head) ``bow_loss``. They are
    gathered per step in ``compute_loss`` and added to the next log entry (overriding
    ``log`` is the one place that reaches ``state.log_history`` and every reporter;
    hf-notes §5).
    """

    logged_terms = ("reconstruction_loss", "kl_loss", "kl_loss_raw", "bow_loss")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._terms: dict[str, list[float]] = {}
        self._tokens = 0
        self._clock = time.perf_counter()

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        if model.training:
            for name in self.logged_terms:
                value = outputs.get(name) if hasattr(outputs, "get") else None
                if value is not None:
                    self._terms.setdefault(name, []).append(float(value.detach()))
            if "attention_mask" in inputs:
                self._tokens += int(inputs["attention_mask"].sum())
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict, start_time: float | None = None) -> None:
        if "loss" in logs:
            for name, values in self._terms.items():
                if values:
                    logs[name] = round(sum(values) / len(values), 4)
            self._terms = {}
            model = self.accelerator.unwrap_model(self.model) if self.model is not None else None
            if model is not None and hasattr(model, "kl_beta"):
                logs["beta"] = round(float(model.kl_beta), 4)
            now = time.perf_counter()
            if self._tokens:
                logs["train_tokens_per_second"] = round(self._tokens / max(now - self._clock, 1e-9), 1)
            self._tokens, self._clock = 0, now
        super().log(logs, start_time)


__all__ = ["KLSchedule", "KLScheduleCallback", "LossTermsTrainer"]


# ---- shared script plumbing ---------------------------------------------------------------


def json_to_argv(config: dict) -> list[str]:
    """Turn a JSON preset into command-line arguments (so later CLI flags override it)."""

    argv: list[str] = []
    for key, value in config.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            argv += [f"--{key}", *map(str, value)]
        elif isinstance(value, dict):
            argv += [f"--{key}", json.dumps(value)]
        else:
            argv += [f"--{key}", str(value)]
    return argv


def parse_script_args(parser, argv: list[str] | None = None):
    """``HfArgumentParser`` dataclasses from ``--config preset.json`` plus CLI overrides."""

    argv = list(sys.argv[1:] if argv is None else argv)
    if "--config" in argv:
        i = argv.index("--config")
        with open(config_path(argv[i + 1]), encoding="utf-8") as f:
            preset = json.load(f)
        argv = json_to_argv(preset) + argv[:i] + argv[i + 2 :]
    return parser.parse_args_into_dataclasses(args=argv)


CONFIGS = Path(__file__).resolve().parent / "configs"


def shipped_configs() -> list[str]:
    """Names of the training presets shipped with the package (``composer_small``, ...)."""
    return sorted(p.stem for p in CONFIGS.glob("*.json"))


def config_path(value: str) -> Path:
    """``--config`` value: a JSON file, or the name of a shipped preset (``composer_small``).

    A path that no longer exists but names a preset's file (``<old folder>/composer_small.json``: where the
    presets lived before 0.2, as the shipped cards' recorded commands quote them) reads that preset.
    """
    path = Path(value)
    if path.is_file():
        return path
    for name in (value, path.stem if path.suffix == ".json" else None):
        if name and (CONFIGS / f"{name}.json").is_file():
            return CONFIGS / f"{name}.json"
    raise FileNotFoundError(
        f"--config {value}: no such file, and not a shipped preset ({', '.join(shipped_configs())})"
    )


def select_rows(dataset, collections=None, kinds=None, column="input_ids", max_length=None, max_samples=None, seed=0):
    """Filter a split by collection/kind/length, cap its size (seeded), add a ``length`` column."""
    if collections:
        dataset = dataset.filter(lambda v, keep=frozenset(collections): v in keep, input_columns="collection")
    if kinds:  # "melody" also finds rows of datasets that label melodies "monophonic"
        wanted = frozenset(normalize_kind(k) for k in kinds)
        dataset = dataset.filter(lambda v: normalize_kind(v) in wanted, input_columns="kind")
    if max_length:
        dataset = dataset.filter(lambda ids: len(ids) <= max_length, input_columns=column)
    if max_samples is not None and len(dataset) > max_samples:
        dataset = dataset.shuffle(seed=seed).select(range(max_samples))
    lengths = [len(ids) for ids in dataset[column]]
    return dataset.add_column("length", lengths)


def last_checkpoint(output_dir: str, overwrite: bool) -> str | None:
    """The newest ``checkpoint-*`` folder to resume from, or None."""

    from transformers.trainer_utils import get_last_checkpoint

    if overwrite or not os.path.isdir(output_dir):
        return None
    return get_last_checkpoint(output_dir)


def write_training_record(path: str, record: dict) -> None:
    """Save what was trained, on what, for how long, and the final losses (JSON)."""

    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1, default=str)


LINEAGE_FILE = "training_lineage.json"


def training_lineage(run_dir, max_depth: int = 20) -> list[dict]:
    """The training runs that produced ``run_dir``, oldest first.

    A run started with ``--init_from OTHER`` continues OTHER's weights; this follows
    that link through each run's ``training_record.json`` (the ``--init_from`` of its
    recorded command, read relative to the current folder, as the command was run) and
    returns the records, ``run_dir``'s last. It stops at a run without a record or
    without ``--init_from``, and refuses a chain longer than ``max_depth`` (a loop).
    A folder without a record but with ``training_lineage.json`` (what
    the checkpoint packager ships beside the weights: the whole chain, oldest
    first) ends the chain with those records, so a run that continues a shipped
    checkpoint, even on a fresh machine without the old run folders, keeps its history.
    """

    chain, here = [], Path(run_dir)
    while True:
        record_path = here / "training_record.json"
        if not record_path.is_file():
            shipped = here / LINEAGE_FILE
            if shipped.is_file():  # a packaged checkpoint carries the runs that made it
                earlier = json.loads(shipped.read_text(encoding="utf-8"))
                # once the run that continued it is itself packaged there, its record (and what
                # followed) is already in the chain: keep only the runs before it
                seen = {r.get("command") for r in chain}
                cut = next((i for i, r in enumerate(earlier) if r.get("command") in seen), len(earlier))
                chain.extend(reversed(earlier[:cut]))
            break
        record = json.loads(record_path.read_text(encoding="utf-8"))
        chain.append({"run": str(here), **record})
        parent = _init_from(shlex.split(record.get("command", "")))
        if parent is None:
            break
        if len(chain) >= max_depth:
            raise ValueError(f"{run_dir}: more than {max_depth} runs linked by --init_from (a loop?)")
        here = Path(parent)
    return chain[::-1]


def _init_from(argv: list[str]) -> str | None:
    """The value of ``--init_from`` (``--init_from X`` or ``--init_from=X``) in a command's argv, if any."""
    for i, arg in enumerate(argv):
        if arg.startswith("--init_from="):
            return arg.split("=", 1)[1]
        if arg == "--init_from" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def lineage_summary(run_dir) -> dict:
    """What :func:`training_lineage` says in a few numbers: ``runs``, ``total_steps``,
    ``total_wall_minutes`` (with ``wall_time_complete``) and ``lineage_commands`` (one
    command per line, oldest first); all zero / empty when ``run_dir`` has no training record."""
    chain = training_lineage(run_dir)
    wall = sum(r.get("wall_seconds_this_run", 0) + (r.get("wall_seconds_before_resume") or 0) for r in chain)
    return {
        "runs": len(chain),
        "total_steps": sum(r.get("global_step", 0) for r in chain),
        "total_wall_minutes": round(wall / 60, 1),
        # False when a run resumed from a checkpoint that did not record the time spent before it
        "wall_time_complete": all(
            not r.get("resumed_from") or r.get("wall_seconds_before_resume") is not None for r in chain
        ),
        "lineage_commands": "\n".join(r.get("command", "") for r in chain),
    }


__all__ += [
    "LINEAGE_FILE",
    "json_to_argv",
    "last_checkpoint",
    "lineage_summary",
    "parse_script_args",
    "select_rows",
    "training_lineage",
    "write_training_record",
]


def load_train_eval(data_args, column: str, seed: int, training_args):
    """Train and validation rows of ``data_args.dataset_dir`` after the script's filters.

    Exits with a message if nothing is left to train on; trains without evaluation
    (and says so) if the validation split is empty.
    """
    from datasets import load_from_disk

    data = load_from_disk(data_args.dataset_dir)
    pick = dict(
        collections=data_args.collections,
        kinds=data_args.kinds,
        column=column,
        max_length=data_args.max_length,
        seed=seed,
    )
    train = select_rows(data["train"], max_samples=data_args.max_train_samples, **pick)
    evaluation = select_rows(data["validation"], max_samples=data_args.max_eval_samples, **pick)
    if len(train) == 0:
        raise SystemExit(f"{data_args.dataset_dir}: no training excerpts left after filtering")
    if len(evaluation) == 0:
        print("warning: the validation split is empty after filtering; training without evaluation")
        training_args.eval_strategy, evaluation = "no", None
    return train, evaluation


WALL_CLOCK_FILE = "wall_clock.json"


class WallClockCallback(TrainerCallback):
    """Writes the run's training wall time so far (earlier invocations included) into every
    checkpoint, so a resumed run can report its whole wall time, not just the part after
    the resume."""

    def __init__(self, start: float, before: float | None):
        self.start, self.before = start, before

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
            if os.path.isdir(folder):
                elapsed = (self.before or 0.0) + time.time() - self.start
                with open(os.path.join(folder, WALL_CLOCK_FILE), "w", encoding="utf-8") as f:
                    json.dump({"wall_seconds": round(elapsed, 1), "complete": self.before is not None}, f)


def wall_seconds_before(resume: str | None) -> float | None:
    """Wall time already spent when resuming from checkpoint ``resume``: 0 for a fresh run,
    ``None`` when the checkpoint does not say (written before this was recorded)."""
    if not resume:
        return 0.0
    path = os.path.join(resume, WALL_CLOCK_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        saved = json.load(f)
    return float(saved["wall_seconds"]) if saved.get("complete", True) else None


def run_training(trainer, resume: str | None, argv: list[str] | None, extra: dict, program: str) -> dict:
    """Train (resuming from ``resume``), save, evaluate, and write ``training_record.json``.

    ``wall_seconds_this_run`` is this invocation; ``wall_seconds_before_resume`` what the
    checkpoint resumed from had already cost (``None``: unknown)."""

    start = time.time()
    before = wall_seconds_before(resume)
    trainer.add_callback(WallClockCallback(start, before))
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model()
    metrics = trainer.evaluate() if trainer.eval_dataset is not None else {}
    record = {
        "command": program + " " + shlex.join(sys.argv[1:] if argv is None else argv),
        "resumed_from": resume,
        "train_examples": len(trainer.train_dataset),
        "eval_examples": len(trainer.eval_dataset) if trainer.eval_dataset is not None else 0,
        "parameters": trainer.model.num_parameters(),
        "global_step": trainer.state.global_step,
        "world_size": trainer.args.world_size,  # processes that trained together (accelerate launch / torchrun)
        "wall_seconds_this_run": round(time.time() - start, 1),
        "wall_seconds_before_resume": before,
        "train_metrics": result.metrics,
        "eval_metrics": metrics,
        "last_logs": [h for h in trainer.state.log_history if "loss" in h][-3:],
        **extra,
    }
    if trainer.is_world_process_zero():
        write_training_record(os.path.join(trainer.args.output_dir, "training_record.json"), record)
    return record


def end_distributed(trainer) -> None:
    """Under ``accelerate launch``/``torchrun``: wait for every process, then close the process
    group (accelerate's ``end_training``; both do nothing in one process).

    Left open, the group is torn down by the interpreter's exit, and a gloo process could abort
    there ("terminate called without an active exception", exit code -6) after its work was
    done, which makes the launcher report the whole run as failed."""
    trainer.accelerator.wait_for_everyone()
    trainer.accelerator.end_training()


__all__ += ["WallClockCallback", "end_distributed", "load_train_eval", "run_training", "wall_seconds_before"]
