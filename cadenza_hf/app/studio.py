"""What the web app does, without the web page: load the models once, run a request, write its files.

:class:`Studio` holds the two pipelines (``midi-variation`` and ``midi-performance``) for
the life of the app, runs one request at a time (a lock: the app is for one machine's
CPUs), and writes each request's outputs into a folder of their own: every MIDI file, a
WAV of it (when the ``audio`` extra is installed), a piano roll (when matplotlib is) and a
zip of them all. Bad input raises :class:`StudioInputError` with the same one-line
reason the command line prints, naming the uploaded file by its own name.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

KEEP_REQUESTS = 32  # request folders kept on disk; older ones are removed


class StudioInputError(ValueError):
    """A request the app refuses: one line, shown in the page and returned to API clients."""


@dataclass
class Result:
    """One output: its label, MIDI file, and (when available) WAV and piano-roll PNG."""

    label: str
    midi: str
    wav: str | None = None
    png: str | None = None


@dataclass
class Batch:
    """The outputs of one request, the zip of them all and a one-line summary."""

    results: list[Result]
    zip: str
    summary: str
    notes: list[str] = field(default_factory=list)

    @property
    def midi_files(self) -> list[str]:
        return [r.midi for r in self.results]


def parse_track(value):
    """A track field: '' or None -> None (the busiest track), digits -> an index, else a name."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    return int(text) if text.lstrip("-").isdigit() else text


def _seed(value) -> int:
    """A seed field: a number >= 0 as is; empty or negative -> a fresh random seed."""
    import random

    if value is None or value == "" or int(value) < 0:
        return random.SystemRandom().randrange(2**31)
    return int(value)


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class Studio:
    """The app's models and its work folder (see the module docstring).

    Args:
        composer: a composer folder or Hub id; None for the shipped one.
        performer: as ``pipeline("midi-variation", performer=...)``; None for the shipped ones.
        workdir: where request folders go; None for a fresh temporary folder.
        audio: render WAV previews (needs the ``audio`` extra); None: when it is installed.
    """

    def __init__(self, composer=None, performer=None, workdir=None, audio: bool | None = None):
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="cadenza-demo-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self.audio_note = None
        self.audio = self._audio_available() if audio is None else audio
        self.plot = self._plot_available()
        self.variation, self.performance = self._load(composer, performer)

    # ---- set-up ---------------------------------------------------------------------
    def _audio_available(self) -> bool:
        from ..preview.audio import default_soundfont, require_synth

        try:
            require_synth()
            default_soundfont()
        except (ImportError, FileNotFoundError) as err:
            self.audio_note = f"no audio preview: {err}"
            return False
        return True

    @staticmethod
    def _plot_available() -> bool:
        from ..preview.piano_roll import require_matplotlib

        try:
            require_matplotlib()
        except ImportError:
            return False
        return True

    @staticmethod
    def _load(composer, performer):
        # the pipelines are registered with transformers by the package itself (cadenza_hf.registration)
        from transformers import pipeline
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        kwargs = {"performer": performer} if performer is not None else {}
        variation = (
            pipeline("midi-variation", model=composer, **kwargs) if composer else pipeline("midi-variation", **kwargs)
        )
        performers = dict(variation.performers)
        main_kind = "pitched" if "pitched" in performers else next(iter(performers))
        main = performers.pop(main_kind)
        performance = pipeline("midi-performance", model=main, performer=performers or None)
        return variation, performance

    def accepts(self, task: str, name: str) -> bool:
        """Whether the ``variation`` or ``performance`` pipeline takes the call option ``name``."""
        import inspect

        pipe = self.variation if task == "variation" else self.performance
        return name in inspect.signature(pipe._sanitize_parameters).parameters

    def styles(self) -> list[str]:
        """The performer styles the pipelines offer (``pipe.styles``; none before they have any)."""
        return list(getattr(self.performance, "styles", None) or getattr(self.variation, "styles", None) or ())

    # ---- requests -------------------------------------------------------------------
    def vary(self, midi=None, track=None, start_bar=None, seed=None, **options) -> Batch:
        """Variations of an uploaded idea (a path; None: the built-in example idea)."""
        name, excerpt = self._excerpt(midi, track, start_bar)
        seed = _seed(seed)
        results = self._call(self.variation, excerpt, seed=seed, progress_bar=True, **options)
        stem = Path(name).stem
        strength = results[0]["options"].get("variation_strength") if results else None
        summary = f"{name}: {self._describe(excerpt)}; {len(results)} variations, strength {strength}, seed {seed}"
        outputs = [(f"{stem}_var{i}", f"variation {i}", r["score"], r["midi"]) for i, r in enumerate(results, 1)]
        return self._write("vary", outputs, f"{stem}_variations", summary, reference=("idea", excerpt.score))

    def generate(self, kind="polyphonic", seed=None, time_signature="4/4", **options) -> Batch:
        """New ideas from scratch."""
        seed = _seed(seed)
        meter = self._meter(time_signature)
        results = self._call(
            self.variation, None, kind=kind, time_signature=meter, seed=seed, progress_bar=True, **options
        )
        summary = f"{len(results)} new {kind} ideas, {time_signature}, seed {seed}"
        outputs = [(f"{kind}_idea{i}", f"idea {i}", r["score"], r["midi"]) for i, r in enumerate(results, 1)]
        return self._write("generate", outputs, f"{kind}_ideas", summary)

    def humanize(self, midi=None, track=None, start_bar=None, seed=None, **options) -> Batch:
        """The performer alone: velocity and microtiming for an uploaded quantized idea."""
        name, excerpt = self._excerpt(midi, track, start_bar)
        seed = _seed(seed)
        result = self._call(self.performance, excerpt, seed=seed, **options)
        stem = Path(name).stem
        summary = f"{name}: {self._describe(excerpt)}, {excerpt.score.note_num()} notes performed, seed {seed}"
        outputs = [(f"{stem}_performed", "performed", result["score"], result["midi"])]
        return self._write("humanize", outputs, f"{stem}_performed", summary, reference=("input", excerpt.score))

    def interpolate(self, midi_a=None, midi_b=None, track=None, start_bar=None, seed=None, **options) -> Batch:
        """Ideas along the path from one uploaded idea to another (both ends included)."""
        if midi_b is None:
            raise StudioInputError("interpolation needs two MIDI files (A and B)")
        name_a, first = self._excerpt(midi_a, track, start_bar)
        name_b, last = self._excerpt(midi_b, track, start_bar)
        if first.meta.is_drum != last.meta.is_drum:
            raise StudioInputError("cannot interpolate between a drum track and a pitched track")
        seed = _seed(seed)
        results = self._call(self.variation, first, interpolate_to=last, seed=seed, progress_bar=True, **options)
        stem = f"{Path(name_a).stem}_to_{Path(name_b).stem}"
        summary = f"{name_a} -> {name_b}: {len(results)} steps, seed {seed}"
        outputs = [(f"{stem}_{i}", f"step {i}", r["score"], r["midi"]) for i, r in enumerate(results, 1)]
        return self._write("interpolate", outputs, stem, summary, reference=("A", first.score))

    # ---- helpers --------------------------------------------------------------------
    def _excerpt(self, midi, track, start_bar):
        """``(display name, Excerpt)`` of an upload, or of the example idea when there is none."""
        from ..tokenization.midi_io import MidiInputError

        tokenizer = self.variation.tokenizer
        if midi is None or midi == "":
            from ..examples import example_idea

            name, source = "example_idea.mid", example_idea()
        else:
            name, source = Path(str(midi)).name, str(midi)
        try:
            start = None if start_bar is None or start_bar == "" else int(start_bar)
        except (TypeError, ValueError):
            raise StudioInputError(f"start bar must be a whole number, got {start_bar!r}") from None
        try:
            return name, tokenizer.extract_excerpt(source, parse_track(track), start, 4, name=name)
        except MidiInputError as err:
            raise StudioInputError(f"{name}: {err.reason}") from None

    @staticmethod
    def _meter(text) -> tuple[int, int]:
        num, sep, den = str(text).partition("/")
        if not (sep and num.strip().isdigit() and den.strip().isdigit()):
            raise StudioInputError(f"time signature must look like 3/4, got {text!r}")
        return int(num), int(den)

    @staticmethod
    def _describe(excerpt) -> str:
        meta = excerpt.meta
        return (
            f"track {meta.track_index} ({meta.track_name or 'unnamed'}), "
            f"bars {meta.start_bar}-{meta.start_bar + meta.bars - 1}"
        )

    def _call(self, pipe, inputs, **options):
        from ..tokenization.midi_io import MidiInputError

        options = {k: v for k, v in options.items() if v is not None}
        with self._lock:
            try:
                return pipe(inputs, **options)
            except MidiInputError as err:
                raise StudioInputError(str(err)) from None
            except (ValueError, TypeError, OSError) as err:  # an option refused, or a model it names missing
                raise StudioInputError(_first_line(err)) from None

    def _request_folder(self, mode: str) -> Path:
        folders = sorted(p for p in self.workdir.iterdir() if p.is_dir())
        for old in folders[: max(0, len(folders) - KEEP_REQUESTS + 1)]:
            shutil.rmtree(old, ignore_errors=True)
        folder = self.workdir / f"{next(self._counter):06d}-{mode}"
        folder.mkdir()
        return folder

    def _write(self, mode, outputs, zip_stem: str, summary: str, reference=None) -> Batch:
        """Write every output's MIDI (and WAV and PNG when available) and the zip of all."""
        folder = self._request_folder(mode)
        results, notes = [], [self.audio_note] if self.audio_note else []
        for stem, label, score, midi in outputs:
            result = Result(label, str(self._put(folder, f"{stem}.mid", midi)))
            if self.audio:
                from ..preview.audio import render_wav

                result.wav = str(self._put(folder, f"{stem}.wav", render_wav(midi)))
            if self.plot:
                from ..preview.piano_roll import piano_roll_png

                rolls = ([reference] if reference else []) + [(label, score)]
                result.png = str(self._put(folder, f"{stem}.png", piano_roll_png(rolls, f"{stem}.mid", dpi=80)))
            results.append(result)
        archive = folder / f"{zip_stem}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for result in results:
                for path in (result.midi, result.wav, result.png):
                    if path:
                        bundle.write(path, Path(path).name)
        return Batch(results, str(archive), summary, notes)

    @staticmethod
    def _put(folder: Path, name: str, data: bytes) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path


__all__ = ["Batch", "Result", "Studio", "StudioInputError", "parse_track"]
