"""Hub plumbing offline: the standard cache, push up to the network call, cards, packaging."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cadenza_hf.hub import defaults
from cadenza_hf.hub.cards import fill_card, python_snippets, read_card, unfilled
from cadenza_hf.hub.publishing import push_with_card, save_with_card

from .tiny_models import save_tiny_checkpoints, tiny_composer, tiny_performer

REPO = Path(__file__).resolve().parents[1]
CARDS = REPO / "model_cards"
SNAPSHOT = "0123456789abcdef0123456789abcdef01234567"


def _table4(performer):
    return [
        {
            "performer": performer,
            "decoding": decoding,
            "temperature": 1.0,
            "steps": steps,
            "metric": metric,
            "kl": {"train": 0.12, "opposite": 0.5},
            "mean_diff": {"train": 1.5, "opposite": 9.0},
            "std_diff": {"train": 2.5, "opposite": 4.0},
        }
        for metric in ("velocity", "microtiming")
        for decoding, steps in (("T=1", 1), ("T=1, 8 steps", 8))
    ]


def _human(dataset):
    figures = ("velocity_std", "velocity_lag1", "beat_accent", "timing_std", "velocity_step", "timing_abs")
    return {
        "dataset": dataset,
        "decoding": "T=1, 8 steps",
        "temperature": 1.0,
        "steps": 8,
        "point": "T=0, 8 steps",
        "excerpts": 150,
        "classifier_accuracy": 0.72,
        "velocity_spread_ratio": 0.9,
        "timing_spread_ratio": 0.8,
        "point_correlation": 0.3,
        "features": {f: {"real": 10.0, "performed": 9.0} for f in figures},
    }


# The values a training run and an evaluation provide, shaped like training_record.json and
# the JSON of scripts/evaluate_composer.py and scripts/evaluate_performer.py (one dict for all).
CARD_VALUES = {
    "train": {
        "command": "python scripts/train_composer.py --config scripts/configs/composer_small.json",
        "eval_metrics": {"eval_loss": 1.23456},
        "parameters": 6450000,
        "global_step": 3000,
        "train_examples": 51676,
        "runs": 1,
        "total_steps": 3000,
        "total_wall_minutes": 62.9,
        "lineage_commands": "python scripts/train_composer.py --config scripts/configs/composer_small.json",
    },
    "eval": {
        "command": "python scripts/evaluate_composer.py --model runs/composer-small",
        "rows": [
            {
                "strength": s,
                "n": 500,
                "pitch": 90.0 - 10 * s,
                "onset": 80.0,
                "duration": 95.0,
                "absolute": 30.0 - 20 * s,
                "rhythm_kept": 0.4 - 0.4 * s,
                "valid_share": 1.0,
            }
            for s in (0.0, 0.25, 0.3, 0.5, 0.75, 1.0)
        ],
        "placebo": {"strength": "placebo", "n": 500, "pitch": 20.0, "onset": 45.0, "duration": 60.0, "absolute": 0.3},
        "table4": _table4("groove") + _table4("pop909") + _table4("asap"),
        "human": [_human(d) for d in ("groove", "pop909", "asap")],
        "mae": [
            {"dataset": d, "kind": "performer_own", "decoding": dec, "velocity_mae": 9.5, "microtiming_mae_ticks": 7.25}
            for d in ("groove", "pop909")
            for dec in ("argmax", "median")
        ]
        + [
            {
                "dataset": d,
                "kind": "performer_own",
                "decoding": "mean",
                "temperature": 0.0,
                "steps": 1,
                "velocity_mae": 9.5,
                "microtiming_mae_ticks": 7.25,
            }
            for d in ("groove", "pop909")
        ]
        + [
            {"dataset": d, "kind": k, "velocity_mae": 9.5, "microtiming_mae_ticks": 7.25}
            for d in ("groove", "pop909")
            for k in (
                "baseline_mean_zero",
                "baseline_random",
                "baseline_pitch_mean",
                "baseline_track_mean",
                "oracle_excerpt_mean",
            )
        ],
    },
}


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory, tokenizer):
    return save_tiny_checkpoints(tmp_path_factory.mktemp("checkpoints"), tokenizer)


def _filled(name: str) -> str:
    return fill_card((CARDS / name).read_text(), CARD_VALUES)


# ---- the Hub cache, offline ------------------------------------------------------------
def _cache_repo(cache: Path, repo_id: str, fill) -> Path:
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / SNAPSHOT
    fill(snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(SNAPSHOT)
    return snapshot


def test_from_pretrained_and_pipelines_through_the_offline_hub_cache(tiny_root, tmp_path):
    from transformers import pipeline

    variation = pipeline(
        "midi-variation",
        model=str(tiny_root / "composer"),
        performer=[str(tiny_root / "performer-drums"), str(tiny_root / "performer-pitched")],
    )
    cache = tmp_path / "hub"
    _cache_repo(cache, "cadenza-org/cadenza-composer", variation.save_pretrained)
    _cache_repo(
        cache, "cadenza-org/cadenza-performer-drums", lambda d: shutil.copytree(tiny_root / "performer-drums", d)
    )
    code = """
import cadenza_hf
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer, pipeline
from cadenza_hf.examples import example_beat, example_idea
repo = "cadenza-org/cadenza-composer"
print(type(AutoModelForCausalLM.from_pretrained(repo)).__name__)
print(type(AutoModelForMaskedLM.from_pretrained(repo, subfolder="performer-drums")).__name__)
print(type(AutoTokenizer.from_pretrained(repo)).__name__)
pipe = pipeline("midi-variation", model=repo)
print(sorted(pipe.performers) == ["drums", "pitched"], len(pipe(example_idea(), num_variations=2, seed=0)))
perform = pipeline("midi-performance", model="cadenza-org/cadenza-performer-drums")
print(perform(example_beat(), seed=0)["options"]["kind"])
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "home"), "HF_HUB_CACHE": str(cache)}
    env.pop("CADENZA_CHECKPOINTS", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [
        "CadenzaComposerModel",
        "CadenzaPerformerForMaskedLM",
        "PerTokTokenizer",
        "True",
        "2",
        "drums",
    ]


# ---- push_to_hub up to the network call --------------------------------------------------
@pytest.fixture
def fake_hub(monkeypatch):
    """Capture what HfApi would create and upload (no network)."""
    from huggingface_hub import HfApi

    calls = []

    class RepoUrl(str):
        repo_id = ""

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id, kwargs))
        url = RepoUrl(f"https://huggingface.co/{repo_id}")
        url.repo_id = repo_id
        return url

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        files = {str(p.relative_to(folder_path)): p.read_bytes() for p in Path(folder_path).rglob("*") if p.is_file()}
        calls.append(("upload_folder", repo_id, files))
        return f"https://huggingface.co/{repo_id}/commit/{SNAPSHOT}"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return calls


def _uploaded(calls) -> dict:
    ((_, _, files),) = [c for c in calls if c[0] == "upload_folder"]
    return files


def test_push_composer_with_tokenizer_and_card(fake_hub, tokenizer):
    card = _filled("composer.md")
    push_with_card(tiny_composer(tokenizer), "me/cadenza-composer", card, tokenizer=tokenizer, private=True)
    assert fake_hub[0][:2] == ("create_repo", "me/cadenza-composer") and fake_hub[0][2]["private"] is True
    files = _uploaded(fake_hub)
    assert {
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer_config.json",
        "vocab.json",
        "README.md",
    } <= set(files)
    assert files["README.md"].decode() == card


def test_push_performer_folder_ships_only_model_files(fake_hub, tiny_root, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_root / "performer-drums", run)
    for junk in ("optimizer.pt", "training_args.bin", "checkpoint-250/model.safetensors"):
        (run / junk).parent.mkdir(parents=True, exist_ok=True)
        (run / junk).write_bytes(b"junk")
    card = _filled("performer-drums.md")
    push_with_card(run, "me/cadenza-performer-drums", card)
    files = _uploaded(fake_hub)
    assert sorted(files) == ["README.md", "config.json", "model.safetensors", "tokenizer_config.json", "vocab.json"]
    assert files["README.md"].decode() == card


def test_push_tokenizer_alone(fake_hub, tokenizer):
    push_with_card(tokenizer, "me/pertok", _filled("composer.md"))
    assert {"tokenizer_config.json", "vocab.json", "README.md"} <= set(_uploaded(fake_hub))


def test_card_with_placeholders_is_refused_before_the_hub_is_touched(fake_hub, tokenizer):
    with pytest.raises(ValueError, match="still has placeholders: eval.command"):
        push_with_card(tiny_composer(tokenizer), "me/x", (CARDS / "composer.md").read_text())
    assert fake_hub == []


def test_save_with_card_writes_readme(tmp_path, tokenizer):
    card = _filled("performer-pitched.md")
    save_with_card(tiny_performer(tokenizer, "pitched"), tmp_path / "p", card, tokenizer=tokenizer)
    assert (tmp_path / "p" / "README.md").read_text() == card
    assert (tmp_path / "p" / "vocab.json").is_file()


def test_cadenza_push_command(fake_hub, tiny_root, tmp_path, capsys):
    from cadenza_hf import cli as cadenza_cli

    folder = tmp_path / "composer"
    shutil.copytree(tiny_root / "composer", folder)
    assert cadenza_cli.main(["push", str(folder), "--repo-id", "me/c"]) == 2  # no card yet
    assert "no model card" in capsys.readouterr().err
    (folder / "README.md").write_text(_filled("composer.md"))
    assert cadenza_cli.main(["push", str(folder), "--repo-id", "me/c"]) == 0
    assert "README.md" in _uploaded(fake_hub) and "pushed" in capsys.readouterr().out


# ---- model cards -------------------------------------------------------------------------
CARD_LICENSES = {  # card -> (Hub licence id, the data licence its text names)
    "composer.md": ("mit", "CC BY 4.0"),
    "performer-drums.md": ("mit", "CC BY 4.0"),
    "performer-pitched.md": ("mit", "MIT license"),
    "performer-classical.md": ("cc-by-nc-sa-4.0", "CC BY-NC-SA 4.0"),
}


@pytest.mark.parametrize("name", sorted(CARD_LICENSES))
def test_card_templates_fill_into_valid_cards(name):
    from huggingface_hub import ModelCard

    template = (CARDS / name).read_text()
    assert unfilled(template)  # measured numbers are placeholders until packaging
    card = ModelCard(read_card(_filled(name)))
    licence, data_licence = CARD_LICENSES[name]
    assert card.data.license == licence and "midi" in card.data.tags and card.data.eval_results
    for text in ("Intended use", "Limitations", "Training data", "Ethical considerations", data_licence):
        assert text in card.text
    assert len(python_snippets(template)) == 1


def test_card_snippets_run(tiny_root, tmp_path):
    """Each card's "How to get started" code, against the shipped checkpoints or tiny ones in their place."""
    shipped = all(defaults.has_checkpoint(name) for name in defaults.CHECKPOINT_NAMES)
    code = "\n".join(python_snippets((CARDS / name).read_text())[0] for name in sorted(CARD_LICENSES))
    env = {**os.environ}
    env.pop("CADENZA_CHECKPOINTS", None)
    if not shipped:
        env["CADENZA_CHECKPOINTS"] = str(tiny_root)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    for name in ("idea_var1.mid", "beat_performed.mid", "idea_performed.mid", "idea_classical.mid"):
        assert (tmp_path / name).stat().st_size > 0


# ---- packaging the checkpoints -----------------------------------------------------------
def _fake_run(src: Path, dst: Path, record: dict) -> Path:
    shutil.copytree(src, dst)
    (dst / "training_record.json").write_text(json.dumps(record))
    (dst / "optimizer.pt").write_bytes(b"x" * 100)
    (dst / "checkpoint-10").mkdir()
    (dst / "checkpoint-10" / "model.safetensors").write_bytes(b"x")
    return dst


def _package(argv):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import package_checkpoints
    finally:
        sys.path.pop(0)
    return package_checkpoints.main(argv)


@pytest.fixture
def runs(tiny_root, tmp_path):
    record = CARD_VALUES["train"]
    evals = tmp_path / "eval.json"
    evals.write_text(json.dumps(CARD_VALUES["eval"]))
    roles = {
        "composer": "composer",
        "drums": "performer-drums",
        "pitched": "performer-pitched",
        "classical": "performer-classical",
    }
    args = []
    for role, name in roles.items():
        run = tiny_root / name
        if role != "composer":  # a run folder does not say its kind; packaging adds it
            run = tmp_path / f"plain-{name}"
            shutil.copytree(tiny_root / name, run)
            config = json.loads((run / "config.json").read_text())
            config.pop("performer_kind")
            (run / "config.json").write_text(json.dumps(config))
        args += [f"--{role}", str(_fake_run(run, tmp_path / f"run-{name}", record)), f"--{role}-eval", str(evals)]
    return args


def test_package_checkpoints_copies_only_model_files_and_fills_cards(runs, tmp_path, monkeypatch):
    from cadenza_hf.pipelines import register_pipelines

    out = tmp_path / "checkpoints"
    monkeypatch.setenv("CADENZA_CHECKPOINTS", str(out))  # the smoke test points the defaults there
    try:
        assert (
            _package(
                [*runs, "--output", str(out), "--performer-unmask-steps", "8", "--classical-unmask-order", "sequence"]
            )
            == 0
        )
    finally:
        monkeypatch.delenv("CADENZA_CHECKPOINTS")
        register_pipelines()
    shipped = (
        ("composer", None, None),
        ("performer-drums", "drums", "drums"),
        ("performer-pitched", "pitched", "pop"),
        ("performer-classical", "pitched", "classical"),
    )
    for name, kind, style in shipped:
        files = sorted(p.name for p in (out / name).iterdir())
        expected = ["README.md", "config.json", "model.safetensors", "tokenizer_config.json", "vocab.json"]
        expected.append("training_lineage.json")  # the run's record (its chain of --init_from runs)
        assert files == sorted(expected + (["generation_config.json"] if name == "composer" else []))
        lineage = json.loads((out / name / "training_lineage.json").read_text())
        assert [r["global_step"] for r in lineage] == [CARD_VALUES["train"]["global_step"]]
        config = json.loads((out / name / "config.json").read_text())
        assert config.get("performer_kind") == kind and config.get("performer_style") == style
        assert config.get("unmask_steps") == (8 if kind else None)
        assert config.get("unmask_order") == (
            "sequence" if style == "classical" else None if not kind else "confidence"
        )
        card = (out / name / "README.md").read_text()
        assert not unfilled(card) and "3000" in card and "1.235" in card


def test_package_checkpoints_refuses_big_files_and_missing_numbers(runs, tmp_path, capsys):
    out = tmp_path / "checkpoints"
    assert _package([*runs, "--output", str(out), "--max-file-mb", "0.01", "--skip-smoke-test"]) == 1
    assert "over the 0 MB limit per file" in capsys.readouterr().err
    assert _package([*runs, "--output", str(out), "--max-total-mb", "0.05", "--skip-smoke-test"]) == 1
    assert "in all is over" in capsys.readouterr().err
    no_eval = [a for i, a in enumerate(runs) if not (a.endswith("-eval") or runs[i - 1].endswith("-eval"))]
    assert _package([*no_eval, "--output", str(out), "--skip-smoke-test"]) == 1
    assert "no value for card placeholder(s): eval." in capsys.readouterr().err
    assert not any(p for p in out.iterdir() if not p.name.startswith("."))  # nothing shipped


def test_wheel_ships_the_checkpoints(tmp_path):
    src = tmp_path / "src"
    for name in ("cadenza_hf", "modeling", "pipelines"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "checkpoints"))
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    ckpt = src / "cadenza_hf" / "checkpoints"
    for name in defaults.CHECKPOINT_NAMES:
        (ckpt / name).mkdir(parents=True)
        for file in ("config.json", "model.safetensors", "vocab.json", "README.md"):
            (ckpt / name / file).write_text("{}")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(src),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("cadenza_hf-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in defaults.CHECKPOINT_NAMES:
        for file in ("config.json", "model.safetensors", "vocab.json", "README.md"):
            assert f"cadenza_hf/checkpoints/{name}/{file}" in names
    assert {
        "cadenza_hf/hub/defaults.py",
        "cadenza_hf/pipelines/midi_variation.py",
        "cadenza_hf/hub/publishing.py",
    } <= names
