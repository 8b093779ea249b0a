"""Shared fixtures: the team's real MIDI data, small hand-made scores, thread pinning."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

# Two cores shared by everything: one torch thread per test process avoids the
# oversubscription collapse described in hf-notes (set before torch is imported).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CADENZA_DATA", REPO.parent / "shared" / "data"))


def pytest_configure(config):
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA / "pop909").is_dir() or not (DATA / "groove").is_dir():
        pytest.skip(f"real MIDI data not found at {DATA} (set CADENZA_DATA)")
    return DATA


@pytest.fixture(scope="session")
def pop909_index(data_dir) -> dict:
    with open(data_dir / "pop909" / "index.csv", encoding="utf-8") as f:
        return {row["song_id"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="session")
def tokenizer():
    from cadenza_hf import PerTokTokenizer

    return PerTokTokenizer()
