"""``cadenza render`` and ``cadenza demo``, and the ``--audio`` option of the music commands.

- ``render``: one MIDI file to a WAV file (General MIDI SoundFont, :mod:`cadenza_hf.preview.audio`);
- ``demo``: the local web app (:mod:`cadenza_hf.app`) on 127.0.0.1;
- :func:`add_audio`: a WAV beside each MIDI file a command is about to write (``--audio``).

A missing extra (``audio``: the synthesizer and a SoundFont; ``demo``: Gradio) is one line
on stderr and exit status 2, like any other bad input.
"""

from __future__ import annotations

from pathlib import Path

from .support import CommandError, check_range, output_file, performer_spec


def check_audio(args) -> None:
    """With ``--audio``: fail now (before any model loads) if the ``audio`` extra is missing."""
    if getattr(args, "audio", False):
        _soundfont(getattr(args, "soundfont", None), "--audio")


def _soundfont(path: str | None, option: str) -> str:
    from ..preview.audio import default_soundfont, require_synth

    try:
        require_synth()
        if path is None:
            return str(default_soundfont())
    except (ImportError, FileNotFoundError) as err:
        raise CommandError(f"{option}: {err}") from None
    if not Path(path).is_file():
        raise CommandError(f"{path}: SoundFont not found")
    return path


def add_audio(files: dict[str, bytes], enabled: bool, soundfont: str | None = None) -> None:
    """Add ``name.wav`` beside every ``name.mid`` in ``files`` (the outputs about to be written)."""
    if not enabled:
        return
    font = _soundfont(soundfont, "--audio")
    for name in [n for n in files if n.endswith(".mid")]:
        files[name[: -len(".mid")] + ".wav"] = _render(files[name], name, font)


def _render(midi, name: str, soundfont: str, release: float | None = None) -> bytes:
    from ..preview.audio import render_wav

    try:
        return render_wav(midi, soundfont=soundfont, release=release)
    except (RuntimeError, OSError) as err:  # the synthesizer refused the SoundFont
        raise CommandError(f"{soundfont}: cannot render {name} with this SoundFont ({err})") from None


def cmd_render(args) -> int:
    from ..preview.audio import midi_length_seconds
    from ..tokenization.midi_io import read_midi
    from ..utils.files import atomic_write_bytes

    out = output_file(args.output)
    if out.suffix.lower() != ".wav":
        raise CommandError(f"{out}: only WAV output is supported (name it .wav)")
    check_range("--release", args.release, 0.0, 30.0)
    font = _soundfont(args.soundfont, "render")
    score = read_midi(args.input)
    wav = _render(score, args.input, font, args.release)
    try:
        atomic_write_bytes(out, wav)
    except OSError as err:
        raise CommandError(f"{out}: cannot write ({err.strerror or err})") from None
    seconds = midi_length_seconds(score) + args.release
    print(f"{args.input}: {score.note_num()} notes, {seconds:.2f} s with the release -> {out}")
    return 0


def cmd_demo(args) -> int:
    from importlib.util import find_spec

    if find_spec("gradio") is None:
        raise CommandError('the web app needs Gradio: pip install "cadenza_hf[demo]"')
    check_range("--port", args.port, 1, 65535)
    from ..app import launch

    launch(
        port=args.port,
        share=args.share,
        composer=args.composer,
        performer=performer_spec(args.performer),
        open_browser=args.open_browser,
    )
    return 0


COMMANDS = {"render": cmd_render, "demo": cmd_demo}

__all__ = ["COMMANDS", "add_audio", "check_audio", "cmd_demo", "cmd_render"]
