"""Training scripts end to end on a tiny dataset: logging, resuming, fine-tuning, performing."""

from __future__ import annotations

import json
import shutil
from importlib import import_module
from pathlib import Path

import numpy as np
import pytest

from cadenza_hf.training.trainer import KLSchedule

REPO = Path(__file__).resolve().parents[1]
TINY = {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64}


@pytest.fixture(scope="module")
def tiny_dataset(data_dir, tmp_path_factory) -> str:
    from cadenza_hf.data import BuildOptions, build_dataset

    root = tmp_path_factory.mktemp("tiny")
    for i, path in enumerate(sorted((data_dir / "groove" / "drummer1" / "session1").glob("*beat*.mid"))[:8]):
        shutil.copy(path, root / f"g{i}.mid")
    shutil.copytree(data_dir / "pop909" / "001", root / "001")
    dataset, _ = build_dataset([str(root)], BuildOptions(), cache_dir=str(root / ".cache"))
    out = root / "ds"
    dataset.save_to_disk(str(out))
    return str(out)


def test_kl_schedule_follows_the_paper_shape():
    s = KLSchedule(beta_max=0.3, hold_steps=10, ramp_steps=10, cycle_steps=8, rise_fraction=0.5)
    assert s(0) == s(9) == 0.0
    assert s(15) == pytest.approx(0.15)
    assert s(20) == pytest.approx(0.0)  # a cycle starts from 0 ...
    assert s(22) == pytest.approx(0.15)  # ... rises along a half cosine ...
    assert s(24) == s(27) == pytest.approx(0.3)  # ... and holds at the max
    assert s(28) == pytest.approx(0.0)


def _common(dataset: str, out: Path, steps: int) -> list[str]:
    return [
        "--dataset_dir",
        dataset,
        "--output_dir",
        str(out),
        "--max_steps",
        str(steps),
        "--save_steps",
        "2",
        "--eval_steps",
        "100",
        "--logging_steps",
        "1",
        "--per_device_train_batch_size",
        "2",
        "--max_eval_samples",
        "4",
        "--warmup_steps",
        "0",
    ]


def test_train_composer_logs_terms_and_resumes(tiny_dataset, tmp_path):
    train = import_module("cadenza_hf.training.composer").main
    out = tmp_path / "composer"
    overrides = json.dumps({**TINY, "num_encoder_layers": 1, "num_decoder_layers": 1, "latent_size": 8})
    args = [
        "--config",
        str(REPO / "cadenza_hf/training/configs/composer_small.json"),
        *_common(tiny_dataset, out, 4),
        "--config_overrides",
        overrides,
        "--kl_hold_steps",
        "1",
        "--kl_ramp_steps",
        "2",
        "--kl_cycle_steps",
        "2",
    ]
    assert train(args) == 0
    record = json.loads((out / "training_record.json").read_text())
    assert record["global_step"] == 4 and record["resumed_from"] is None
    logs = record["last_logs"][-1]
    for key in ("loss", "reconstruction_loss", "kl_loss", "kl_loss_raw", "beta", "train_tokens_per_second"):
        assert key in logs
    assert logs["loss"] == pytest.approx(logs["reconstruction_loss"] + logs["beta"] * logs["kl_loss"], rel=0.05)
    args[args.index("--max_steps") + 1] = "6"
    assert train(args) == 0
    record = json.loads((out / "training_record.json").read_text())
    assert record["global_step"] == 6 and record["resumed_from"].endswith("checkpoint-4")
    # the wall time before the resume comes from the checkpoint, so the run's total is complete
    saved = json.loads((out / "checkpoint-4" / "wall_clock.json").read_text())
    assert saved["complete"] and record["wall_seconds_before_resume"] == saved["wall_seconds"] > 0
    from cadenza_hf.training.trainer import lineage_summary, wall_seconds_before

    summary = lineage_summary(out)
    assert summary["wall_time_complete"] and summary["total_wall_minutes"] == round(
        (record["wall_seconds_this_run"] + saved["wall_seconds"]) / 60, 1
    )
    (out / "checkpoint-4" / "wall_clock.json").unlink()  # a checkpoint from before it was recorded: unknown
    assert wall_seconds_before(str(out / "checkpoint-4")) is None and wall_seconds_before(None) == 0.0
    assert (out / "model.safetensors").exists() and (out / "tokenizer_config.json").exists()

    # a warm restart applies config overrides over the saved config; word dropout masks with the tokenizer's MASK
    from cadenza_hf import CadenzaComposerConfig, PerTokTokenizer

    tuned = tmp_path / "tuned"
    assert (
        train(
            [
                *_common(tiny_dataset, tuned, 1),
                "--init_from",
                str(out),
                "--config_overrides",
                json.dumps({"word_dropout": 0.2, "bow_loss_weight": 0.5}),
            ]
        )
        == 0
    )
    config = CadenzaComposerConfig.from_pretrained(tuned)
    assert config.word_dropout == 0.2 and config.word_dropout_token_id == PerTokTokenizer().mask_token_id
    assert config.bow_loss_weight == 0.5  # the new bag-of-words head is trained, logged and saved
    logs = json.loads((tuned / "training_record.json").read_text())["last_logs"][-1]
    assert logs["bow_loss"] > 0
    assert logs["loss"] == pytest.approx(
        logs["reconstruction_loss"] + logs["beta"] * logs["kl_loss"] + 0.5 * logs["bow_loss"], rel=0.05
    )
    assert config.num_decoder_layers == 1  # the rest comes from the --init_from model
    command = json.loads((tuned / "training_record.json").read_text())["command"]
    # quoted: the recorded command can be pasted into a shell
    assert """'{"word_dropout": 0.2, "bow_loss_weight": 0.5}'""" in command


def test_train_performer_then_fine_tune_and_perform(tiny_dataset, tmp_path):
    from cadenza_hf import CadenzaPerformerForMaskedLM, PerTokTokenizer
    from cadenza_hf.examples import example_idea
    from cadenza_hf.generation.performance import perform

    train = import_module("cadenza_hf.training.performer").main
    base, tuned = tmp_path / "base", tmp_path / "tuned"
    common = [
        "--config",
        str(REPO / "cadenza_hf/training/configs/performer_small.json"),
        "--config_overrides",
        json.dumps({**TINY, "num_hidden_layers": 1}),
    ]
    assert train([*common, *_common(tiny_dataset, base, 3), "--collections", "midi"]) == 0
    fine_tune = [*_common(tiny_dataset, tuned, 2), "--init_from", str(base), "--collections", "pop909"]
    assert train([*fine_tune, "--metric_grid", "12"]) == 0  # the metric-position embedding added while fine-tuning
    record = json.loads((tuned / "training_record.json").read_text())
    assert record["global_step"] == 2 and record["data"]["collections"] == ["pop909"]

    model = CadenzaPerformerForMaskedLM.from_pretrained(tuned)
    assert model.config.metric_grid == 12 and model.performer.embeddings.metric.weight.any()  # zero-init, trained
    tok = PerTokTokenizer.from_pretrained(tuned)
    score, ids = perform(model, tok, example_idea(), temperature=1.0, seed=3)
    again, ids2 = perform(model, tok, example_idea(), temperature=1.0, seed=3)
    assert ids == ids2 and tok.grammar_errors(ids, bars=4) == 0
    notes = score.tracks[0].notes.numpy()
    assert len(notes["time"]) == example_idea().note_num()
    velocities = {int(t.split("_")[1]) for t in tok.convert_ids_to_tokens(tok.velocity_ids)}
    assert set(np.unique(notes["velocity"]).tolist()) <= velocities
    assert tok.composition_ids(ids) == tok.composition_ids(tok.encode_midi(example_idea()))


@pytest.mark.parametrize("config", sorted((REPO / "cadenza_hf/training/configs").glob("*.json")), ids=lambda p: p.name)
def test_every_shipped_config_parses_into_its_scripts_arguments(config, tmp_path):
    from cadenza_hf.training.trainer import parse_script_args

    script = import_module(
        "cadenza_hf.training.composer" if config.name.startswith("composer") else "cadenza_hf.training.performer"
    )
    parsed = parse_script_args(
        script.build_parser(), ["--config", str(config), "--output_dir", str(tmp_path), "--dataset_dir", "data/x"]
    )
    model_args, training_args = parsed[0], parsed[-1]
    assert model_args.preset == json.loads(config.read_text())["preset"]
    assert training_args.max_steps == json.loads(config.read_text())["max_steps"] > 0


def test_training_lineage_follows_init_from_oldest_first(tmp_path):
    from cadenza_hf.training.trainer import training_lineage

    def run(name, steps, init_from=None, style="space"):
        folder = tmp_path / name
        folder.mkdir()
        command = f"python scripts/train_composer.py --output_dir {folder} --max_steps {steps}"
        if init_from is not None:
            command += f" --init_from {init_from}" if style == "space" else f" --init_from={init_from}"
        record = {"command": command, "global_step": steps, "wall_seconds_this_run": 60.0 * steps}
        (folder / "training_record.json").write_text(json.dumps(record))
        return folder

    first = run("first", 3)
    second = run("second", 2, first, style="equals")
    third = run("third", 4, second)
    chain = training_lineage(third)
    assert [r["run"] for r in chain] == [str(first), str(second), str(third)]
    assert [r["global_step"] for r in chain] == [3, 2, 4]
    assert training_lineage(first) == [chain[0]]
    from cadenza_hf.training.trainer import lineage_summary

    summary = lineage_summary(third)
    assert (summary["runs"], summary["total_steps"], summary["total_wall_minutes"]) == (3, 9, 9.0)
    assert summary["lineage_commands"].splitlines()[-1].endswith(f"--init_from {second}")
    assert lineage_summary(tmp_path / "nothing here")["runs"] == 0
    assert training_lineage(tmp_path / "nothing here") == []
    # a record whose --init_from points back to itself is a loop, not an endless walk
    looped = tmp_path / "loop"
    looped.mkdir()
    (looped / "training_record.json").write_text(json.dumps({"command": f"train.py --init_from {looped}"}))
    with pytest.raises(ValueError, match="loop"):
        training_lineage(looped)

    # a shipped folder carries its chain as training_lineage.json; a run continuing it keeps that history
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "training_lineage.json").write_text(json.dumps(chain))
    fourth = run("fourth", 5, shipped)
    continued = training_lineage(fourth)
    assert [r["global_step"] for r in continued] == [3, 2, 4, 5]
    assert lineage_summary(fourth)["runs"] == 4
    # packaging the fourth run into that folder does not count it twice
    (shipped / "training_lineage.json").write_text(json.dumps(continued))
    assert [r["global_step"] for r in training_lineage(fourth)] == [3, 2, 4, 5]


def test_idea_attention_warm_start_trains_from_a_plain_composer(tiny_dataset, tmp_path):
    train = import_module("cadenza_hf.training.composer").main
    plain = tmp_path / "plain"
    overrides = {**TINY, "num_encoder_layers": 1, "num_decoder_layers": 1, "latent_size": 8}
    assert train([*_common(tiny_dataset, plain, 1), "--config_overrides", json.dumps(overrides)]) == 0
    idea = tmp_path / "idea"
    args = [
        *_common(tiny_dataset, idea, 2),
        "--init_from",
        str(plain),
        "--config_overrides",
        '{"idea_attention": true}',
    ]
    assert train(args) == 0
    from cadenza_hf import CadenzaComposerModel, PerTokTokenizer
    from cadenza_hf.examples import example_idea
    from cadenza_hf.generation.variation import ComposeOptions, vary

    model = CadenzaComposerModel.from_pretrained(idea).eval()
    assert model.config.idea_attention and model.decoder.layers[0].idea_attn.o_proj.weight.abs().sum() > 0
    tok = PerTokTokenizer()
    ids = tok.composition_ids(tok.encode_midi(example_idea()))
    rows = vary(model, tok, ids, 2, 0.3, ComposeOptions(max_new_tokens=160), seed=0)
    assert all(tok.grammar_errors(r, bars=4, require_eos=True) == 0 for r in rows)


def test_accelerate_launch_trains_on_two_processes(tiny_dataset, tmp_path):
    # What users run on several GPUs, here on CPU with the gloo backend: both processes train
    # (world size 2 in the record) and process 0 alone writes the checkpoint and the record.
    # On CPU, accelerate starts the processes through its distributed launcher (--multi_gpu,
    # i.e. torchrun) and the Trainer's --use_cpu makes them join with gloo (MULTI_CPU).
    import os
    import socket
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    with socket.socket() as free:  # a free rendezvous port, so parallel runs do not collide on 29500
        free.bind(("127.0.0.1", 0))
        port = str(free.getsockname()[1])
    launch = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--main_process_port",
        port,
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
    ]
    tiny = json.dumps({**TINY, "num_encoder_layers": 1, "num_decoder_layers": 1, "latent_size": 8})
    runs = {
        "composer": ["cadenza_hf.training.composer", "--config_overrides", tiny],
        "performer": [
            "cadenza_hf.training.performer",
            "--config_overrides",
            json.dumps({**TINY, "num_hidden_layers": 1}),
        ],
    }
    for name, (module, *extra) in runs.items():
        out = tmp_path / name
        done = subprocess.run(
            [*launch, module, *_common(tiny_dataset, out, 2), "--use_cpu", "true", *extra],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        record = json.loads((out / "training_record.json").read_text())
        assert record["world_size"] == 2 and record["global_step"] == 2
        assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]
        assert (out / "model.safetensors").is_file()


def test_config_accepts_preset_names_and_the_pre_0_2_preset_paths(tmp_path):
    from cadenza_hf.training.trainer import CONFIGS, config_path

    assert config_path("composer_small") == CONFIGS / "composer_small.json"
    # the cards' recorded commands quote the presets where they lived before 0.2
    assert config_path("scripts/configs/performer_small.json") == CONFIGS / "performer_small.json"
    own = tmp_path / "composer_small.json"
    own.write_text("{}")
    assert config_path(str(own)) == own  # a user's own file wins over the preset of the same name
    with pytest.raises(FileNotFoundError, match="not a shipped preset"):
        config_path("scripts/configs/no_such_preset.json")
