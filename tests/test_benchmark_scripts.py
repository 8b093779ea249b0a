"""Smoke tests of the benchmark scripts in scripts/ (tiny runs on the real data)."""

from __future__ import annotations

from .script_loader import load_script


def test_benchmark_tokenizers_runs(data_dir, tmp_path, capsys):
    bench = load_script("benchmark_tokenizers")
    out = tmp_path / "benchmarks.md"
    argv = ["--data", str(data_dir), "--num-excerpts", "2", "--bars", "4", "--repeats", "1", "--output", str(out)]
    section = bench.main(argv)

    lines = section.splitlines()
    start = lines.index("### 4-bar excerpts") + 4  # title, blank, header, separator
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    assert [r[0].strip("*") for r in rows] == list(bench.ROW_ORDER)
    for cells in rows:
        assert int(cells[1]) > 0  # vocab
        assert all(float(c) > 0 for c in cells[3:6]), cells  # mean lengths of the three kinds
    assert "### 8-bar excerpts" not in section
    assert "Wrapper / bare miditok PerTok" in section

    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks")
    assert text.count(bench.START_MARK) == 1 and text.count(bench.END_MARK) == 1
    # refreshing keeps what others wrote around the section
    out.write_text(text + "\n## Other section\n\nkept\n", encoding="utf-8")
    bench.write_section(out, "## Tokenizers\n\nnew")
    refreshed = out.read_text(encoding="utf-8")
    assert "new" in refreshed and "kept" in refreshed and "### 4-bar excerpts" not in refreshed
    assert refreshed.count(bench.START_MARK) == 1
    assert "python scripts/benchmark_tokenizers.py" in capsys.readouterr().out


def test_benchmark_vary_runs(tmp_path, tokenizer, monkeypatch, capsys):
    from .tiny_models import save_tiny_checkpoints

    monkeypatch.setenv("CADENZA_CHECKPOINTS", str(save_tiny_checkpoints(tmp_path / "ck", tokenizer)))
    bench = load_script("benchmark_vary")
    out = tmp_path / "benchmarks.md"
    result = bench.main(["--repeats", "1", "-n", "2", "--markdown", str(out)])

    runs = result["command_runs"]
    assert runs["identical_outputs"]  # same seed, same files in the warm-up and the timed run
    assert 0 < runs["help"]["median_s"] < runs["vary"]["median_s"]
    assert result["in_process"]["call"]["median_s"] > 0 and result["in_process"]["composition_tokens"] > 0
    text = out.read_text(encoding="utf-8")
    assert text.count(bench.START_MARK) == 1 and "model time alone" in text
    assert "python scripts/benchmark_vary.py" in capsys.readouterr().out
