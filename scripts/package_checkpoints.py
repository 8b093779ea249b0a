#!/usr/bin/env python
"""Ship trained checkpoints inside the package: ``cadenza_hf/checkpoints/<name>/``.

    python scripts/package_checkpoints.py --composer runs/composer-small \
        --drums runs/performer-groove --pitched runs/performer-pop909 \
        --composer-eval runs/composer-small/eval.json \
        --drums-eval runs/performer_eval.json --pitched-eval runs/performer_eval.json

For each checkpoint given, copies ONLY ``config.json``, ``generation_config.json``, the
safetensors weights and the tokenizer files (no ``checkpoint-*``, optimizer state or
training arguments), and writes the model card ``model_cards/<name>.md`` as
``README.md`` with its placeholders filled: ``{{train.*}}`` from the run's
``training_record.json`` (its chain of ``--init_from`` runs is also shipped, as
``training_lineage.json``, so a later run that continues the checkpoint keeps its
history), ``{{eval.*}}`` from the evaluation JSON given (the ``--output-json`` of
``scripts/evaluate_composer.py`` / ``scripts/evaluate_performer.py``; one performer JSON
holds every performer). Performers get
``performer_kind`` (``drums``/``pitched``) and ``performer_style`` (``drums``, ``pop``,
``classical``) in their ``config.json``, which the pipelines route by, and with
``--performer-unmask-steps N`` their default number of decoding passes.

Refuses (exit 1, nothing written) when a file is over ``--max-file-mb`` (30), the total
is over ``--max-total-mb`` (80), a card placeholder has no value, a folder lacks its
weights or tokenizer, or the checkpoints do not share one vocabulary. Each target folder
is replaced as a whole. Afterwards a smoke test runs the shipped pipelines on the
project's example idea and beat (``--skip-smoke-test`` to skip).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from cadenza_hf.hub import defaults
from cadenza_hf.hub.cards import fill_card, read_card
from cadenza_hf.hub.publishing import CARD_NAME
from cadenza_hf.modeling.performer import UNMASK_ORDERS

REPO = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
WEIGHTS = ("model.safetensors", "model-*-of-*.safetensors", "model.safetensors.index.json")
CONFIGS = ("config.json", "generation_config.json")
TOKENIZER = ("tokenizer_config.json", "vocab.json", "special_tokens_map.json", "added_tokens.json")
ROLES = {  # option -> (checkpoint folder, card template, performer kind, performance style)
    "composer": (defaults.COMPOSER, "composer.md", None, None),
    "drums": (defaults.PERFORMER_DRUMS, "performer-drums.md", "drums", "drums"),
    "pitched": (defaults.PERFORMER_PITCHED, "performer-pitched.md", "pitched", "pop"),
    "classical": (defaults.PERFORMER_CLASSICAL, "performer-classical.md", "pitched", "classical"),
}


class PackagingError(Exception):
    """Why nothing was packaged."""


def files_to_ship(run_dir: Path) -> list[Path]:
    """The files copied from a run folder (top level only)."""
    if not (run_dir / "config.json").is_file():
        raise PackagingError(f"{run_dir}: no config.json (not a saved model folder)")
    found = [p for pattern in CONFIGS + WEIGHTS + TOKENIZER for p in sorted(run_dir.glob(pattern)) if p.is_file()]
    names = {p.name for p in found}
    if not any(n.endswith(".safetensors") for n in names):
        raise PackagingError(f"{run_dir}: no safetensors weights")
    if not {"tokenizer_config.json", "vocab.json"} <= names:
        raise PackagingError(f"{run_dir}: no tokenizer files (tokenizer_config.json, vocab.json)")
    return found


def card_values(run_dir: Path, eval_json: str | None) -> dict:
    """``train``: the run's training record, plus its lineage when it continued earlier runs
    (``--init_from``): ``total_steps``, ``total_wall_minutes``, ``runs`` and ``lineage_commands``
    (one command per line, oldest first). ``eval``: the evaluation JSON."""
    from cadenza_hf.training.trainer import lineage_summary

    values = {}
    record = run_dir / "training_record.json"
    if record.is_file():
        values["train"] = {**json.loads(record.read_text()), **lineage_summary(run_dir)}
    if eval_json:
        values["eval"] = json.loads(Path(eval_json).read_text())
    return values


def stage(
    role: str,
    run_dir: Path,
    eval_json: str | None,
    cards: Path,
    out: Path,
    max_file: int,
    unmask_steps: int | None = None,
    unmask_order: str | None = None,
) -> int:
    """Copy one checkpoint into ``out`` and write its card; return the bytes staged."""
    name, card_name, kind, style = ROLES[role]
    out.mkdir(parents=True)
    total = 0
    for src in files_to_ship(run_dir):
        size = src.stat().st_size
        if size > max_file:
            raise PackagingError(f"{src}: {size / MB:.1f} MB is over the {max_file / MB:.0f} MB limit per file")
        shutil.copy2(src, out / src.name)
        total += size
    config = json.loads((out / "config.json").read_text())
    for key in ("custom_pipelines", "auto_map"):  # a shipped checkpoint is a plain model folder
        config.pop(key, None)
    if kind:
        config["performer_kind"], config["performer_style"] = kind, style
        if unmask_steps:
            config["unmask_steps"] = unmask_steps
        if unmask_order:
            config["unmask_order"] = unmask_order
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    from cadenza_hf.training.trainer import LINEAGE_FILE, training_lineage

    lineage = training_lineage(run_dir)
    if lineage:  # the runs that made these weights, so training can continue them elsewhere
        (out / LINEAGE_FILE).write_text(json.dumps(lineage, indent=1, default=str) + "\n")
    try:
        card = fill_card((cards / card_name).read_text(encoding="utf-8"), card_values(run_dir, eval_json))
    except KeyError as err:
        raise PackagingError(f"{cards / card_name}: {err.args[0]} (pass --{role}-eval or fill the template)") from None
    (out / CARD_NAME).write_text(read_card(card), encoding="utf-8")
    return total + len(card.encode())


def check_shared_vocab(staged: dict[str, Path]) -> None:
    vocabs = {role: (path / "vocab.json").read_text() for role, path in staged.items()}
    if len(set(vocabs.values())) > 1:
        raise PackagingError(f"the checkpoints do not share one vocabulary ({', '.join(vocabs)})")
    for role, path in staged.items():
        size = len(json.loads(vocabs[role]))
        if json.loads((path / "config.json").read_text())["vocab_size"] != size:
            raise PackagingError(f"{role}: config vocab_size differs from its tokenizer's {size} tokens")


def package(args) -> dict[str, Path]:
    runs = {role: getattr(args, role) for role in ROLES if getattr(args, role)}
    if not runs:
        raise PackagingError("nothing to package: give --composer, --drums, --pitched and/or --classical")
    target = Path(args.output)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".staging-") as tmp:
        staged, total = {}, 0
        for role, run in runs.items():
            staged[role] = Path(tmp) / ROLES[role][0]
            total += stage(
                role,
                Path(run),
                getattr(args, f"{role}_eval"),
                Path(args.cards),
                staged[role],
                int(args.max_file_mb * MB),
                args.performer_unmask_steps,
                getattr(args, f"{role}_unmask_order", None),
            )
        if total > args.max_total_mb * MB:
            raise PackagingError(f"{total / MB:.1f} MB in all is over the {args.max_total_mb:.0f} MB limit")
        check_shared_vocab(staged)
        done = {}
        for role, path in staged.items():
            final = target / ROLES[role][0]
            if final.exists():
                shutil.rmtree(final)
            path.rename(final)
            done[role] = final
    for role, path in done.items():
        size = sum(p.stat().st_size for p in path.iterdir())
        print(
            f"{role}: {runs[role]} -> {path} ({size / MB:.1f} MB: {', '.join(sorted(p.name for p in path.iterdir()))})"
        )
    return done


def smoke_test(root: Path) -> None:
    """Run the shipped pipelines once on the example idea and beat (raises on any failure)."""
    import os

    os.environ[defaults.ENV_VAR] = str(root.resolve())
    from transformers import pipeline

    from cadenza_hf.examples import example_beat, example_idea
    from cadenza_hf.pipelines import register_pipelines

    register_pipelines()  # task defaults follow the packaged folder
    tok_errors = []
    if defaults.has_checkpoint(defaults.COMPOSER):
        pipe = pipeline("midi-variation")
        for idea in (example_idea(), example_beat()):
            for out in pipe(idea, num_variations=1, seed=0):
                tok_errors.append(pipe.tokenizer.grammar_errors(out["input_ids"], bars=4))
    if defaults.default_performers():
        pipe = pipeline("midi-performance")
        pipe(example_idea(), seed=0)
    if any(tok_errors):
        raise PackagingError(f"smoke test: generated sequences with grammar errors {tok_errors}")
    print("smoke test passed")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for role in ROLES:
        parser.add_argument(f"--{role}", help=f"trained {role} folder (a training run's output_dir)")
        parser.add_argument(
            f"--{role}-eval", default=None, help=f"evaluation JSON for the {role} card's {{{{eval.*}}}}"
        )
        if ROLES[role][2]:
            parser.add_argument(
                f"--{role}-unmask-order",
                choices=UNMASK_ORDERS,
                help=f"write this unmasking order (config.unmask_order) into the {role} performer: the one measured "
                "best on its validation split (default: keep the run's)",
            )
    parser.add_argument(
        "--output", default=str(defaults.PACKAGED_ROOT), help="checkpoints folder (default: the package's)"
    )
    parser.add_argument("--cards", default=str(REPO / "model_cards"), help="card templates folder")
    parser.add_argument(
        "--performer-unmask-steps",
        type=int,
        help="write this default number of performer passes (config.unmask_steps) into every performer packaged: "
        "the measured choice for performers trained with a random mask ratio (default: keep the run's)",
    )
    parser.add_argument("--max-file-mb", type=float, default=30.0)
    parser.add_argument("--max-total-mb", type=float, default=80.0)
    parser.add_argument("--skip-smoke-test", action="store_true")
    args = parser.parse_args(argv)
    try:
        package(args)
        if not args.skip_smoke_test:
            smoke_test(Path(args.output))
    except (PackagingError, OSError, ValueError) as err:
        print(f"package_checkpoints: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
