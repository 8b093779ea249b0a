"""Dataset building: bar alignment on real files, splits, determinism, bad files, collators."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cadenza_hf import read_midi
from cadenza_hf.data import BuildOptions, ComposerCollator, PerformerCollator, build_dataset, build_streaming
from cadenza_hf.data.sources import discover
from cadenza_hf.tokenization.alignment import grid_hit_rate, load_pop909_song

from .midi_factory import copy_groove, copy_pop909, header, simple_midi, track_chunk

POP_SONGS = ["001", "002", "003", "010", "034", "101", "202", "303"]  # 034: 3/4


@pytest.fixture(scope="module")
def collection(data_dir, tmp_path_factory) -> Path:
    """A small copy of both collections, laid out like the originals (with their tables)."""
    root = tmp_path_factory.mktemp("collections")
    copy_pop909(data_dir, root, POP_SONGS)
    copy_groove(data_dir, root, train=12, validation=6)
    return root


@pytest.fixture(scope="module")
def built(collection, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    inputs = [str(collection / "pop909"), str(collection / "groove")]
    options = BuildOptions(transpose=(-1, 2))
    return build_dataset(inputs, options, cache_dir=str(cache)), inputs, options, cache


def test_pop909_alignment_puts_onsets_on_the_grid(data_dir, pop909_index):
    songs = sorted(p.name for p in (data_dir / "pop909").iterdir() if p.is_dir())[:40]
    aligned, raw = [], []
    for song in songs:
        aligned.append(grid_hit_rate(load_pop909_song(data_dir / "pop909" / song, pop909_index[song]), track="PIANO"))
        raw.append(grid_hit_rate(read_midi(data_dir / "pop909" / song / f"{song}.mid"), track="PIANO"))
    assert np.mean(aligned) >= 0.85
    assert np.mean(raw) < 0.2


def test_pop909_bars_start_on_annotated_downbeats(data_dir, pop909_index):
    from cadenza_hf.tokenization.alignment import read_pop909_beats
    from cadenza_hf.tokenization.excerpt import bar_layout, locate_bar

    song = data_dir / "pop909" / "001"
    score = load_pop909_song(song, pop909_index["001"])
    beats = read_pop909_beats(song / "beat_midi.txt", 4)
    runs = bar_layout(score, score.end())
    # every annotated downbeat is a bar line, at beat index * 480 ticks from the origin
    bar_ticks = {locate_bar(runs, i)[0] for i in range(sum(r[4] for r in runs))}
    origin = min(bar_ticks)
    first = beats.downbeats[0]
    assert {int((d - first) * 480) + origin for d in beats.downbeats} - bar_ticks <= {max(bar_ticks) + 1920}


def test_build_counts_and_columns(built):
    (dataset, summary), _, _, _ = built
    assert set(dataset) == {"train", "validation", "test"}
    for col in ("source", "track", "kind", "bar", "input_ids", "composition_ids", "masked_ids", "time_signature"):
        assert col in dataset["train"].column_names
    assert summary.files_read == len(POP_SONGS) + 18 and not summary.files_rejected
    kinds = {k for split in summary.excerpts.values() for k in split}
    assert kinds == {"drums", "melody", "polyphonic"}
    row = dataset["train"][0]
    assert len(row["composition_ids"]) < len(row["input_ids"]) == len(row["masked_ids"])
    assert "3/4" in set(dataset["train"]["time_signature"]) | set(dataset["test"]["time_signature"]) | set(
        dataset["validation"]["time_signature"]
    )


def test_splits_are_disjoint_by_source_and_groove_split_is_honoured(built, collection):
    (dataset, _), _, _, _ = built
    sources = {split: set(dataset[split]["source"]) for split in dataset}
    assert not sources["train"] & sources["validation"]
    assert not sources["train"] & sources["test"]
    assert not sources["validation"] & sources["test"]
    info = {
        f"groove/{r['midi_filename']}": r["split"] for r in csv.DictReader(open(collection / "groove" / "info.csv"))
    }
    for split, names in sources.items():
        for name in names:
            if name in info:
                assert info[name] == split


def test_transposition_only_in_train_and_pitched(built):
    (dataset, _), _, _, _ = built
    train = dataset["train"].select_columns(["transpose", "kind"]).to_dict()
    assert set(train["transpose"]) == {-1, 0, 2}
    assert all(t == 0 for t, k in zip(train["transpose"], train["kind"]) if k == "drums")
    for split in ("validation", "test"):
        assert set(dataset[split]["transpose"]) <= {0}


def test_deduplicated(built):
    (dataset, summary), _, _, _ = built
    hashes = [h for split in dataset for h in dataset[split]["hash"]]
    assert len(hashes) == len(set(hashes))
    assert summary.duplicates_removed > 0  # POP909 melodies repeat note for note


def test_build_is_deterministic(built, tmp_path):
    (dataset, _), inputs, options, cache = built
    again, _ = build_dataset(inputs, options, cache_dir=str(cache))
    fresh, _ = build_dataset(inputs, options, cache_dir=str(tmp_path))
    for split in dataset:
        assert again[split]._fingerprint == dataset[split]._fingerprint == fresh[split]._fingerprint
        assert fresh[split]["input_ids"] == dataset[split]["input_ids"]


def test_corrupt_files_are_skipped_and_counted(data_dir, tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    for i, path in enumerate(sorted((data_dir / "groove" / "drummer1" / "session1").glob("*.mid"))[:3]):
        shutil.copy(path, good / f"ok{i}.mid")
    (good / "zero.mid").write_bytes(b"")
    (good / "garbage.mid").write_bytes(b"\x00\x01 not a midi file at all" * 10)
    (good / "truncated.mid").write_bytes(simple_midi()[:-30])
    (good / "smpte.mid").write_bytes(header(1, 1, 0xE728) + track_chunk(b""))
    (good / "lying.mid").write_bytes(header(1, 4) + simple_midi()[14:])
    dataset, summary = build_dataset([str(good)], BuildOptions(), cache_dir=str(tmp_path / "c"))
    assert summary.files_read == 8
    assert sum(summary.files_rejected.values()) == 5
    reasons = " ".join(summary.files_rejected)
    for word in ("empty input", "not a MIDI file", "truncated", "SMPTE", "header says 4 tracks"):
        assert word in reasons
    assert sum(len(dataset[s]) for s in dataset) > 0


def test_streaming_yields_the_same_excerpts(collection, tmp_path):
    inputs = [str(collection / "groove")]
    built, _ = build_dataset(inputs, BuildOptions(), cache_dir=str(tmp_path), dedupe=False)
    streams = build_streaming(inputs, BuildOptions())
    for split in built:
        assert [r["hash"] for r in streams[split]] == built[split]["hash"]


def test_discover_knows_collections(collection):
    found = discover([str(collection)])
    kinds = {s.collection for s in found}
    assert kinds == {"pop909", "groove"}
    assert sum(s.collection == "pop909" for s in found) == len(POP_SONGS)


def test_collators(built, tokenizer):
    (dataset, _), _, _, _ = built
    rows = [dataset["train"][i] for i in range(3)]
    batch = ComposerCollator(tokenizer)(rows)
    lengths = [len(r["composition_ids"]) for r in rows]
    assert batch["input_ids"].shape == (3, max(lengths))
    assert batch["attention_mask"].sum(1).tolist() == lengths
    assert (batch["labels"][batch["attention_mask"] == 0] == -100).all()
    assert (batch["labels"][batch["attention_mask"] == 1] == batch["input_ids"][batch["attention_mask"] == 1]).all()
    perf = PerformerCollator(tokenizer)(rows)
    masked = perf["input_ids"] == tokenizer.mask_token_id
    assert (perf["labels"][~masked] == -100).all()
    targets = perf["labels"][masked].tolist()
    assert targets and set(targets) <= set(tokenizer.performance_ids)
    full = [r["input_ids"] for r in rows]
    assert sum(t in tokenizer.performance_ids for r in full for t in r) == len(targets)
    assert perf["input_ids"].shape[1] % 1 == 0
    padded = PerformerCollator(tokenizer, pad_to_multiple_of=64)(rows)
    assert padded["input_ids"].shape[1] % 64 == 0


def test_performer_collator_random_mask_ratio(built, tokenizer):
    (dataset, _), _, _, _ = built
    rows = [dataset["train"][i] for i in range(8)]
    full = PerformerCollator(tokenizer)(rows)
    slots = full["labels"] != -100  # every performance slot
    partial = PerformerCollator(tokenizer, min_mask_ratio=0.0, seed=3)(rows)
    masked = partial["input_ids"] == tokenizer.mask_token_id
    assert (masked <= slots).all() and masked.sum() < slots.sum()  # some slots show their true value
    assert (masked.sum(1) >= 1).all()  # at least one slot per row is left to predict
    assert torch.equal(partial["labels"] != -100, masked)  # loss only where masked
    shown = slots & ~masked
    assert torch.equal(partial["input_ids"][shown], full["labels"][shown])
    always_full = PerformerCollator(tokenizer, min_mask_ratio=0.0, full_mask_share=1.0)(rows)
    assert torch.equal(always_full["input_ids"], full["input_ids"])
    with pytest.raises(ValueError, match="min_mask_ratio"):
        PerformerCollator(tokenizer, min_mask_ratio=1.5)


def test_build_script_saves_to_disk(collection, tmp_path):
    from datasets import load_from_disk

    script = Path(__file__).resolve().parents[1] / "scripts" / "build_dataset.py"
    out = tmp_path / "ds"
    res = subprocess.run(
        [
            sys.executable,
            str(script),
            "--input",
            str(collection / "groove"),
            "--output",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--num-proc",
            "2",
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "files read: 18" in res.stdout
    loaded = load_from_disk(str(out))
    assert {"source", "track", "kind", "bar", "input_ids"} <= set(loaded["train"].column_names)
    assert (out / "build_summary.json").exists()


def test_onset_estimate_aligns_without_beat_files(data_dir, pop909_index):
    from cadenza_hf.tokenization.alignment import align_by_onsets

    songs = [s for s in sorted(pop909_index) if pop909_index[s]["num_beats_per_measure"] == "2"][:12]
    rates = [
        grid_hit_rate(align_by_onsets(read_midi(data_dir / "pop909" / s / f"{s}.mid")), track="PIANO") for s in songs
    ]
    assert np.mean(rates) >= 0.85
