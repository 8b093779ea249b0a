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
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("cadenza_hf-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    roots = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert roots == {"cadenza_hf"}
    for required in (
        "cadenza_hf/__init__.py",
        "cadenza_hf/tokenization/tokenization_pertok.py",
        "cadenza_hf/cli/__init__.py",
        "cadenza_hf/training/configs/composer_small.json",
        "cadenza_hf/modeling/__init__.py",
        "cadenza_hf/modeling/composer/modeling_composer.py",
        "cadenza_hf/modeling/performer/modeling_performer.py",
        "cadenza_hf/pipelines/__init__.py",
    ):
        assert required in names
    assert not any(n.startswith(("modeling/", "pipelines/", "tests/", "scripts/")) for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "cadenza = cadenza_hf.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


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
    allowed = {"torch", "transformers", ".", "__future__", "math", "dataclasses", "typing", "collections", "importlib"}
    for path in (REPO / "modeling").rglob("*.py"):
        hub = {line for line in path.read_text().splitlines() if "huggingface_hub" in line}
        assert hub <= {"from huggingface_hub.dataclasses import strict"}, (path, hub)
    for path in (REPO / "modeling").rglob("*.py"):
        assert _imports(path) - {"huggingface_hub"} <= allowed, (path, _imports(path) - allowed)


# Who may import whom, by sub-package of cadenza_hf (imports inside functions count too:
# they point the same way). "" is the package root (__init__, registration, version).
LAYERS = {
    "utils": set(),
    "examples": {"utils"},  # cadenza_hf/examples.py: the project's own example MIDI (symusic only)
    "tokenization": {"utils"},
    "modeling": set(),
    "generation": {"utils", "tokenization"},
    "hub": {"utils", "modeling"},  # modeling only inside functions (legacy checkpoint conversion)
    "preview": {"utils", "tokenization"},
    "pipelines": {"utils", "tokenization", "modeling", "generation", "hub", "preview"},
    "data": {"utils", "tokenization"},
    "training": {"utils", "tokenization", "modeling", "generation", "hub", "data", "examples"},
    "evaluation": {
        "utils",
        "tokenization",
        "modeling",
        "generation",
        "hub",
        "data",
        "training",
        "pipelines",
        "examples",
    },
    "app": {"utils", "tokenization", "modeling", "generation", "hub", "preview", "pipelines", "examples"},
    "cli": {
        "utils",
        "tokenization",
        "modeling",
        "generation",
        "hub",
        "preview",
        "pipelines",
        "data",
        "training",
        "evaluation",
        "app",
        "examples",
    },
    "": {"utils", "tokenization", "modeling", "generation", "hub", "preview", "pipelines", "examples"},
}


def _package_files():
    """(file, its module name as installed) for every module of the package."""
    for root, prefix in (
        (REPO / "cadenza_hf", "cadenza_hf"),
        (REPO / "modeling", "cadenza_hf.modeling"),
        (REPO / "pipelines", "cadenza_hf.pipelines"),
    ):
        for path in root.rglob("*.py"):
            parts = [*prefix.split("."), *path.relative_to(root).with_suffix("").parts]
            yield path, ".".join(parts)


def _absolute_imports(path: Path, module: str) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names}  # "from . import x" names a module
    return found


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "cadenza_hf":
        return None
    if len(parts) == 1 or parts[1] in ("registration", "version", "__init__", "__main__"):
        return ""
    return parts[1] if parts[1] in LAYERS else None


def test_sub_packages_import_one_way_only():
    graph: dict[str, set[str]] = {layer: set() for layer in LAYERS}
    for path, module in _package_files():
        source = _layer(module)
        assert source is not None, f"{module}: not in a known sub-package (add it to LAYERS)"
        for target in _absolute_imports(path, module):
            layer = _layer(target)
            if layer is None or layer == source:
                continue
            graph[source].add(layer)
            assert layer in LAYERS[source], (
                f"{module} imports {target}: {source or 'the root'} may not import {layer or 'the package root'}"
            )
    # the allowed table itself must be a DAG (no cycle between sub-packages)
    seen, stack = set(), set()

    def visit(node):
        assert node not in stack, f"import cycle through {node or 'root'}"
        if node in seen:
            return
        stack.add(node)
        for nxt in graph[node]:
            visit(nxt)
        stack.discard(node)
        seen.add(node)

    for node in graph:
        visit(node)


def test_import_cadenza_hf_loads_no_torch():
    code = "import sys, cadenza_hf; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_package_code_never_names_the_scripts_folder():
    # scripts/ is not installed: nothing of the package may find, run or mention files there
    for path, module in _package_files():
        text = path.read_text()
        assert "scripts/" not in text and '"scripts"' not in text and "'scripts'" not in text, module


def test_tokenizer_never_imports_models():
    for path in (REPO / "cadenza_hf" / "tokenization").glob("*.py"):
        name = path.name
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert "modeling" not in node.module and "pipelines" not in node.module, (name, node.module)
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] != "torch" for a in node.names), name


def test_package_never_imports_scripts():
    for path in list((REPO / "cadenza_hf").rglob("*.py")) + list((REPO / "modeling").rglob("*.py")):
        assert "scripts" not in _imports(path), path


def test_cli_help_does_not_import_torch():
    code = "import sys, cadenza_hf.cli; cadenza_hf.cli.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
