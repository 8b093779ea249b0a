"""Report plumbing shared by the evaluation modules and the benchmark scripts.

Each of those scripts prints the command that ran it, renders its numbers as a markdown
section, and can save the full result as JSON and put the section into a shared markdown
file (``docs/benchmarks.md``). Several scripts write to the same file, so each one owns
only the text between its own pair of HTML-comment markers and leaves the rest alone.

Standard library only: importing this module adds nothing to what a script needs.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable
from pathlib import Path


def command_line(argv: list[str], script: str) -> str:
    """The shell command that reproduces this run: ``python <script> <argv>``, quoted.

    ``script`` is a file, or ``-m module`` for an entry point of the package.

    ``OMP_NUM_THREADS`` goes in front when it is set, since it changes the timings.
    """
    prefix = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} " if "OMP_NUM_THREADS" in os.environ else ""
    return prefix + "python " + shlex.join([*shlex.split(script), *argv])


def write_section(
    path, section: str, start_mark: str, end_mark: str, intro: str, *, blank_line_after: bool = True
) -> None:
    """Put ``section`` between ``start_mark`` and ``end_mark`` in the markdown file ``path``.

    An existing section is replaced in place; a file without the markers gets the section
    appended after a blank line; a missing file (and its folder) is created, starting
    with ``intro``. With ``blank_line_after`` a blank line separates the section from any
    text that follows it; without, that text starts right after the end marker.
    """
    path = Path(path)
    block = f"{start_mark}\n{section.strip()}\n{end_mark}\n"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(intro + "\n" + block, encoding="utf-8")
        return
    text = path.read_text(encoding="utf-8")
    if start_mark in text and end_mark in text:
        head, rest = text.split(start_mark, 1)
        tail = rest.split(end_mark, 1)[1].lstrip("\n")
        text = head + block + ("\n" if tail and blank_line_after else "") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text, encoding="utf-8")


def write_json(result: dict, path) -> None:
    """Save ``result`` as indented JSON at ``path``, creating its folder if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1), encoding="utf-8")


def emit_result(
    result: dict,
    section: str,
    output_json,
    markdown,
    write_markdown: Callable[[Path, str], None],
    *,
    section_name: str | None = None,
) -> None:
    """Print ``section``, then save ``result`` to ``output_json`` and ``section`` into ``markdown``.

    Either destination may be ``None`` to skip it. ``write_markdown(path, section)`` is the
    script's own section writer (its markers). With ``section_name``, a line saying which
    section of which file was written is printed after writing it.
    """
    print(section)
    if output_json:
        write_json(result, output_json)
    if markdown:
        write_markdown(markdown, section)
        if section_name:
            print(f"# wrote the {section_name} section of {markdown}")


def other_training_jobs(exclude: str = "") -> int:
    """How many other processes have ``train_`` in their command line (Linux ``/proc``; 0 elsewhere).

    Benchmarks report it because a training run sharing the CPU skews their timings.
    Command lines containing ``exclude`` (e.g. the benchmark's own name) are not counted.
    """
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc") if os.path.isdir("/proc") else []):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        mine = int(pid) == os.getpid() or (exclude and exclude.encode() in cmd)
        count += not mine and b"train_" in cmd
    return count
