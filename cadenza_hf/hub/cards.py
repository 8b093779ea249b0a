"""Model cards: reading, filling measured numbers into placeholders, and their code.

The card templates in ``model_cards/*.md`` hold placeholders such as
``{{train.eval_metrics.eval_loss}}`` or ``{{eval.rows[strength=0.5].pitch}}`` where a
measured number belongs. :func:`fill_card` substitutes them from nested dicts (a training
run's ``training_record.json`` as ``train``, an evaluation JSON as ``eval``), following
the path: ``.key`` steps into a dict, ``.3`` into a list by index, and
``[key=value,key2=value2]`` picks the one list item whose fields match (numbers compare
as numbers). the project's packaging script (``package_checkpoints.py`` in the repository) does this when it ships a checkpoint, and
refuses to ship a card with a placeholder left.
"""

from __future__ import annotations

import re
from pathlib import Path

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-\[\]=,]+)\s*\}\}")
_STEP = re.compile(r"\[[^\]]*\]|[^.\[\]]+")
_CODE_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def unfilled(text: str) -> list[str]:
    """Names of the placeholders left in ``text`` (sorted, unique)."""
    return sorted(set(PLACEHOLDER.findall(text)))


def _same(field, wanted: str) -> bool:
    if isinstance(field, (int, float)) and not isinstance(field, bool):
        try:
            return float(wanted) == float(field)
        except ValueError:
            return False
    return str(field) == wanted


def _select(items: list, selector: str):
    conditions = [c.partition("=") for c in selector.strip("[]").split(",")]
    found = [
        item
        for item in items
        if isinstance(item, dict) and all(key in item and _same(item[key], value) for key, _, value in conditions)
    ]
    if len(found) != 1:
        raise KeyError(selector)
    return found[0]


def _lookup(values: dict, path: str):
    node = values
    for part in _STEP.findall(path):
        if part.startswith("[") and isinstance(node, list):
            node = _select(node, part)
        elif isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(path)
    return node


def _format(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def fill_card(text: str, values: dict, strict: bool = True) -> str:
    """Replace each ``{{dotted.name}}`` in ``text`` with its value from ``values``.

    Floats are written with 4 significant digits. With ``strict`` (the default), a
    placeholder missing from ``values`` raises ``KeyError`` naming every missing one;
    otherwise it is left as is.
    """
    missing = []

    def replace(match):
        try:
            return _format(_lookup(values, match.group(1)))
        except KeyError:
            missing.append(match.group(1))
            return match.group(0)

    filled = PLACEHOLDER.sub(replace, text)
    if strict and missing:
        raise KeyError(f"no value for card placeholder(s): {', '.join(sorted(set(missing)))}")
    return filled


def read_card(card) -> str:
    """The text of a card given as a path, a ``huggingface_hub.ModelCard`` or markdown text.

    Raises ValueError if the YAML metadata does not parse or a placeholder is left.
    """
    from huggingface_hub import ModelCard

    if isinstance(card, ModelCard):
        text = str(card)
    elif isinstance(card, Path) or (isinstance(card, str) and "\n" not in card):
        text = Path(card).read_text(encoding="utf-8")
    else:
        text = str(card)
    left = unfilled(text)
    if left:
        raise ValueError(f"the model card still has placeholders: {', '.join(left)}")
    try:
        ModelCard(text, ignore_metadata_errors=False)
    except Exception as err:  # huggingface_hub raises ValueError or a yaml error
        raise ValueError(f"the model card's YAML metadata does not parse: {err}") from None
    return text


def python_snippets(text: str, section: str = "How to get started") -> list[str]:
    """The ```python blocks under the markdown heading that contains ``section``."""
    parts = re.split(r"^#+ ", text, flags=re.MULTILINE)
    blocks = []
    for part in parts:
        heading = part.split("\n", 1)[0]
        if section.lower() in heading.lower():
            blocks += _CODE_BLOCK.findall(part)
    return blocks


__all__ = ["PLACEHOLDER", "fill_card", "python_snippets", "read_card", "unfilled"]
