"""Packaging and architecture rules: one import root, and who may import what."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_has_one_import_root(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("cadenza_hf-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    roots = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert roots == {"cadenza_hf", "cadenza_cli.py"}
    for required in (
        "cadenza_hf/__init__.py",
        "cadenza_hf/tokenization_pertok.py",
        "cadenza_hf/modeling/__init__.py",
        "cadenza_hf/modeling/composer/modeling_composer.py",
        "cadenza_hf/modeling/performer/modeling_performer.py",
        "cadenza_hf/pipelines/__init__.py",
    ):
        assert required in names
    assert not any(n.startswith(("modeling/", "pipelines/", "tests/", "scripts/")) for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "cadenza = cadenza_cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add("." if node.level else node.module.split(".")[0])
    return found


def test_modeling_imports_only_torch_and_transformers():
    # huggingface_hub is allowed for ``huggingface_hub.dataclasses.strict`` only: the
    # v5 config decorator, imported from there by transformers' own configs too.
    allowed = {"torch", "transformers", ".", "__future__", "math", "dataclasses", "typing", "collections"}
    for path in (REPO / "modeling").rglob("*.py"):
        hub = {line for line in path.read_text().splitlines() if "huggingface_hub" in line}
        assert hub <= {"from huggingface_hub.dataclasses import strict"}, (path, hub)
    for path in (REPO / "modeling").rglob("*.py"):
        assert _imports(path) - {"huggingface_hub"} <= allowed, (path, _imports(path) - allowed)


def test_tokenizer_never_imports_models():
    for name in ("tokenization_pertok.py", "pertok_engine.py", "grammar.py", "excerpt.py", "midi_io.py"):
        tree = ast.parse((REPO / "cadenza_hf" / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert "modeling" not in node.module and "pipelines" not in node.module, (name, node.module)
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] != "torch" for a in node.names), name


def test_package_never_imports_scripts():
    for path in list((REPO / "cadenza_hf").rglob("*.py")) + list((REPO / "modeling").rglob("*.py")):
        assert "scripts" not in _imports(path), path


def test_cli_help_does_not_import_torch():
    code = "import sys, cadenza_cli; cadenza_cli.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
