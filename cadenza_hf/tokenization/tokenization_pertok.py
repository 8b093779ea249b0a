"""PerTok as a transformers tokenizer: MIDI in, token ids out, and back.

``PerTokTokenizer`` is a slow (Python) ``PreTrainedTokenizer`` around
:class:`~cadenza_hf.pertok_engine.CadenzaPerTok` (miditok's ``PerTok`` with exact bar
and grid timing). It adds what a transformers user expects — ``__call__`` on paths,
bytes or ``symusic.Score`` objects returning a ``BatchEncoding``, padding/truncation,
``save_pretrained``/``AutoTokenizer`` — and what the Cadenza models need: the split
between composition tokens (Bar, TimeShift, Pitch, Duration) and performance tokens
(Velocity, MicroTiming), and a real grammar.

The text form of a sequence is its token names joined by spaces, so
``tok.decode(ids)`` and ``tok("Bar_None Pitch_60 ...")`` round trip.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import symusic
from miditok import TokenizerConfig
from transformers import PreTrainedTokenizer

from ..utils.files import atomic_write_bytes
from .excerpt import Excerpt, ExcerptMeta, cut_window, select_track
from .grammar import Kind, PerTokGrammar
from .midi_io import MidiInputError, describe, read_midi
from .pertok_engine import CadenzaPerTok, _str_to_ticks, bar_starts

MIDI_SUFFIXES = (".mid", ".midi", ".smf")
SPECIAL_TOKENS = ("PAD_None", "BOS_None", "EOS_None", "MASK_None")

# Settings that define the vocabulary; saved in tokenizer_config.json and checked
# against vocab.json on load.
DEFAULTS = {
    "grids": [16, 12, 6],
    "ticks_per_quarter": 480,
    "use_microtiming": True,
    "max_microtiming_shift": 0.125,
    "num_microtiming_bins": 30,
    "num_velocities": 32,
    "pitch_range": [21, 108],
    "drum_pitch_range": [22, 81],
    "use_durations": True,
    "max_duration_beats": 4.0,
    "max_timeshift_beats": 4.0,
}


def _check_settings(s: dict) -> None:
    """Validate tokenizer settings; raise ValueError quoting the bad value."""
    tpq = s["ticks_per_quarter"]
    if not isinstance(tpq, int) or tpq < 24:
        raise ValueError(f"ticks_per_quarter must be an int >= 24, got {tpq!r}")
    grids = s["grids"]
    if not grids or len(set(grids)) != len(grids):
        raise ValueError(f"grids must be distinct divisions of a whole note, got {grids!r}")
    for g in grids:
        if not isinstance(g, int) or g < 1 or (4 * tpq) % g:
            raise ValueError(f"grid {g!r} does not divide a whole note of {4 * tpq} ticks evenly")
    for key in ("pitch_range", "drum_pitch_range"):
        lo, hi = s[key]
        if not 0 <= lo <= hi <= 127:
            raise ValueError(f"{key} must satisfy 0 <= low <= high <= 127, got {s[key]!r}")
    if not 1 <= s["num_velocities"] <= 127:
        raise ValueError(f"num_velocities must be in 1..127, got {s['num_velocities']!r}")
    if s["use_microtiming"]:
        if not 0 < s["max_microtiming_shift"] <= 1:
            raise ValueError(f"max_microtiming_shift (beats) must be in (0, 1], got {s['max_microtiming_shift']!r}")
        if not isinstance(s["num_microtiming_bins"], int) or s["num_microtiming_bins"] < 2:
            raise ValueError(f"num_microtiming_bins must be an int >= 2, got {s['num_microtiming_bins']!r}")
    for key in ("max_duration_beats", "max_timeshift_beats"):
        if not 0 < s[key] <= 16:
            raise ValueError(f"{key} must be in (0, 16], got {s[key]!r}")


def build_engine(settings: dict) -> CadenzaPerTok:
    """The miditok engine for these settings."""
    tpq = settings["ticks_per_quarter"]
    per_beat = sorted({max(1, g // 4) for g in settings["grids"]})
    config = TokenizerConfig(
        pitch_range=tuple(settings["pitch_range"]),
        drums_pitch_range=tuple(settings["drum_pitch_range"]),
        # miditok needs distinct keys here (a dict literal with a repeated key silently
        # keeps one grid); the engine builds its own grids from ``grids`` anyway.
        beat_res={(0, 4 + i): r for i, r in enumerate(per_beat)},
        num_velocities=settings["num_velocities"],
        special_tokens=[t.split("_")[0] for t in SPECIAL_TOKENS],
        use_velocities=True,
        use_chords=False,
        use_rests=False,
        use_tempos=False,
        use_time_signatures=False,
        use_programs=False,
        use_sustain_pedals=False,
        use_pitch_bends=False,
        use_pitchdrum_tokens=True,
        use_note_duration_programs=list(range(128)) if settings["use_durations"] else [],
        remove_duplicated_notes=False,
        ticks_per_quarter=tpq,
        use_microtiming=settings["use_microtiming"],
        # miditok 3.1.0 reads these even with use_microtiming=False (KeyError otherwise)
        max_microtiming_shift=settings["max_microtiming_shift"],
        num_microtiming_bins=settings["num_microtiming_bins"],
        grids=list(settings["grids"]),
        max_duration_beats=settings["max_duration_beats"],
        max_timeshift_beats=settings["max_timeshift_beats"],
    )
    return CadenzaPerTok(config)


def _is_midi_input(item) -> bool:
    if isinstance(item, (bytes, bytearray, memoryview, symusic.Score, Path)):
        return True
    return isinstance(item, str) and item.lower().endswith(MIDI_SUFFIXES)


# token kinds as plain ints, for the per-token loops: a note, and what may fill a note's performance slot
_NOTE_KINDS = frozenset({int(Kind.PITCH), int(Kind.DRUM)})
_SLOT_KINDS = frozenset({int(Kind.VEL), int(Kind.MICRO), int(Kind.MASK)})


class PerTokTokenizer(PreTrainedTokenizer):
    """PerTok tokenizer (paper §2.2) for single-track excerpts, as a transformers tokenizer.

    Args:
        vocab_file (`str`, *optional*): a saved ``vocab.json``; on load it must equal the
            vocabulary these settings build (guards against a silently different vocab).
        grids (`list[int]`, *optional*, defaults to `[16, 12, 6]`): overlapping rhythmic
            grids as divisions of a whole note: 16ths, 8th-triplets and quarter-triplets.
        ticks_per_quarter (`int`, *optional*, defaults to 480): time resolution.
        use_microtiming (`bool`, *optional*, defaults to `True`): write MicroTiming tokens.
        max_microtiming_shift (`float`, *optional*, defaults to 0.125): largest microtiming
            shift, in beats (0.125 beat = 60 ticks at 480 tpq).
        num_microtiming_bins (`int`, *optional*, defaults to 30): microtiming bins over
            ``[-max, +max]`` (``bins + 1`` tokens).
        num_velocities (`int`, *optional*, defaults to 32): velocity bins.
        pitch_range (`list[int]`, *optional*, defaults to `[21, 108]`): pitched notes kept.
        drum_pitch_range (`list[int]`, *optional*, defaults to `[22, 81]`): drum notes kept
            (General MIDI percussion plus the Roland extras 22/26 the Groove set uses).
        use_durations (`bool`, *optional*, defaults to `True`): Duration tokens for pitched
            tracks. Drum tracks never have durations (the paper's no-duration mode).
        max_duration_beats (`float`, *optional*, defaults to 4.0): longest Duration token.
        max_timeshift_beats (`float`, *optional*, defaults to 4.0): longest TimeShift token;
            longer gaps take several.

    Example:

    >>> from cadenza_hf import PerTokTokenizer
    >>> tok = PerTokTokenizer()
    >>> tok.convert_ids_to_tokens(tok("Bar_None Pitch_60 Duration_1.0.480")["input_ids"])
    ['BOS_None', 'Bar_None', 'Pitch_60', 'Duration_1.0.480', 'EOS_None']
    """

    vocab_files_names = {"vocab_file": "vocab.json"}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(
        self,
        vocab_file: str | None = None,
        pad_token: str = "PAD_None",
        bos_token: str = "BOS_None",
        eos_token: str = "EOS_None",
        mask_token: str = "MASK_None",
        model_max_length: int = 4096,
        special_tokens_pattern: str = "bos_eos",
        **kwargs,
    ):
        settings = {key: kwargs.pop(key, default) for key, default in DEFAULTS.items()}
        settings["grids"] = [int(g) for g in settings["grids"]]
        settings["pitch_range"] = list(settings["pitch_range"])
        settings["drum_pitch_range"] = list(settings["drum_pitch_range"])
        _check_settings(settings)
        self.settings = settings
        self.engine = build_engine(settings)
        self.vocab = dict(self.engine.vocab)
        if vocab_file is not None:
            with open(vocab_file, encoding="utf-8") as f:
                saved = json.load(f)
            if saved != self.vocab:
                raise ValueError(
                    f"{vocab_file}: the saved vocabulary differs from the one these settings build "
                    f"({len(saved)} vs {len(self.vocab)} tokens); was it saved by another version?"
                )
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        super().__init__(
            pad_token=pad_token,
            bos_token=bos_token,
            eos_token=eos_token,
            mask_token=mask_token,
            model_max_length=model_max_length,
            special_tokens_pattern=special_tokens_pattern,
            **settings,
            **kwargs,
        )
        tokens = [self.ids_to_tokens[i] for i in range(len(self.vocab))]
        self.grammar = PerTokGrammar(
            tokens,
            self.engine.grid_positions,
            use_microtiming=settings["use_microtiming"],
            use_velocities=True,
            use_durations=settings["use_durations"],
        )
        # plain ints: the per-token loops below compare kinds one id at a time, which numpy scalars make slow
        self._kinds = self.grammar.kinds.tolist()

    # ---- transformers vocabulary protocol --------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        return text.split()

    def _convert_token_to_id(self, token: str) -> int:
        if token not in self.vocab:
            raise ValueError(f"unknown PerTok token {token!r}")
        return self.vocab[token]

    def _convert_id_to_token(self, index: int) -> str:
        if index not in self.ids_to_tokens:
            raise ValueError(f"token id {index} is outside the vocabulary (size {len(self.vocab)})")
        return self.ids_to_tokens[index]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return " ".join(tokens)

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str]:
        if not os.path.isdir(save_directory):
            raise ValueError(f"{save_directory} is not a directory")
        name = (filename_prefix + "-" if filename_prefix else "") + self.vocab_files_names["vocab_file"]
        path = os.path.join(save_directory, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.vocab, f, indent=1, ensure_ascii=False)
        return (path,)

    # ---- settings that other code reads ----------------------------------------------
    @property
    def ticks_per_quarter(self) -> int:
        return self.settings["ticks_per_quarter"]

    @property
    def microtiming_tick_values(self) -> list[int]:
        """Microtiming values in ticks, one per MicroTiming token (empty when off)."""
        if not self.settings["use_microtiming"]:
            return []
        return [int(v) for v in self.engine.microtiming_tick_values]

    @property
    def token_families(self) -> dict[str, list[int]]:
        """Ids of each token family, for constrained decoding and masking."""
        names = {
            "bar": Kind.BAR,
            "timeshift": Kind.SHIFT,
            "pitch": Kind.PITCH,
            "drum_pitch": Kind.DRUM,
            "duration": Kind.DUR,
            "velocity": Kind.VEL,
            "microtiming": Kind.MICRO,
        }
        return {name: self.grammar.ids_of[kind].tolist() for name, kind in names.items()}

    @property
    def velocity_ids(self) -> list[int]:
        """Ids of the Velocity tokens, in increasing velocity order."""
        return self.grammar.ids_of[Kind.VEL].tolist()

    @functools.cached_property
    def velocity_values(self) -> dict[int, int]:
        """``{id: velocity}`` of the Velocity tokens (built once: read per sequence by collators and performers)."""
        return {i: int(self.ids_to_tokens[i].rsplit("_", 1)[1]) for i in self.velocity_ids}

    @functools.cached_property
    def time_shift_ticks(self) -> dict[int, int]:
        """``{id: ticks}`` of the TimeShift tokens (values written ``beat.ticks.ticks_per_quarter``)."""
        return {i: _str_to_ticks(self.ids_to_tokens[i].split("_", 1)[1]) for i in self.token_families["timeshift"]}

    @property
    def microtiming_ids(self) -> list[int]:
        """Ids of the MicroTiming tokens, from the earliest to the latest offset."""
        return self.grammar.ids_of[Kind.MICRO].tolist()

    @property
    def performance_ids(self) -> list[int]:
        return sorted(self.velocity_ids + self.microtiming_ids)

    @property
    def bar_token_id(self) -> int:
        """Id of the ``Bar_None`` token that opens every bar."""
        return self.vocab["Bar_None"]

    @property
    def composition_ids_set(self) -> list[int]:
        kinds = (Kind.BAR, Kind.SHIFT, Kind.PITCH, Kind.DRUM, Kind.DUR)
        return sorted(int(i) for k in kinds for i in self.grammar.ids_of[k])

    def bar_ticks(self, time_signature=(4, 4)):
        """Ticks in a bar of ``time_signature`` (``(num, den)``); given per-bar meters
        (``((4, 4), (3, 4), ...)``, as ``ExcerptMeta.meter`` holds them), the list of each bar's length."""
        if is_per_bar(time_signature):
            return [self.bar_ticks(meter) for meter in time_signature]
        num, den = time_signature
        return self.ticks_per_quarter * 4 * num // den

    # ---- MIDI in ----------------------------------------------------------------------
    def extract_excerpt(
        self,
        midi,
        track=None,
        start_bar: int | None = None,
        bars: int = 4,
        name: str | None = None,
        meter: tuple[int, int] | None = None,
    ) -> Excerpt:
        """Read ``midi`` and cut one track over ``bars`` bars from ``start_bar``.

        The track is an index, a name, or None for the track with the most notes.
        ``start_bar`` None takes the first window of ``bars`` bars (0, ``bars``, ...)
        holding a note of that track. ``meter`` (e.g. ``(4, 4)``) replaces the file's
        time signatures. A window across meter changes keeps each bar's meter
        (``excerpt.meta.bar_meters``). The window is resampled to the tokenizer's ticks per quarter.
        Raises :class:`~cadenza_hf.MidiInputError` naming the input and the reason; a
        one-beat meter (1/4 on every bar, as POP909 files carry) is refused with the fix.
        """
        source = name or describe(midi)
        score = read_midi(midi, source)
        index = select_track(score, track, source)
        single = self.track_score(score, index)
        if meter is not None:
            num, den = check_meter(meter)
            single.time_signatures = [symusic.TimeSignature(0, num, den)]
        excerpt = cut_window(single, 0, start_bar, bars, self.engine.snap_margin, source, label_index=index)
        excerpt.meta.track_index = index
        num, den = excerpt.meta.time_signature
        if meter is None and all(n == 1 for n, _ in excerpt.meta.meters):
            raise MidiInputError(
                source,
                f"the meter is {num}/{den} (every bar one beat long, so {bars} bars would be {bars} beats): "
                "read it in its real meter, e.g. meter=(4, 4) (cadenza: --meter 4/4)",
            )
        return excerpt

    def track_score(self, score: symusic.Score, index: int) -> symusic.Score:
        """One track of ``score`` with its tempos and meters, at the tokenizer's resolution.

        Cut it once and call :meth:`cut_excerpt` for many windows of the same track.
        """
        single = symusic.Score(score.ticks_per_quarter)
        single.tracks.append(score.tracks[index].copy())
        single.tempos = score.tempos.copy()
        single.time_signatures = score.time_signatures.copy()
        if single.ticks_per_quarter != self.ticks_per_quarter:
            single = single.resample(self.ticks_per_quarter, min_dur=1)
        return single

    def cut_excerpt(
        self, track_score: symusic.Score, start_bar: int, bars: int, source: str = "", meter_changes: bool = True
    ) -> Excerpt:
        """A window of a :meth:`track_score` (raises MidiInputError like extract_excerpt).

        Consecutive windows partition the time line: a note just before this window's
        end is left to the next window (``extract_excerpt`` wraps it to the start instead).
        ``meter_changes=False`` refuses a window across a meter change ("the meter changes
        inside bars A-B") instead of keeping each bar's meter.
        """
        return cut_window(
            track_score,
            0,
            start_bar,
            bars,
            self.engine.snap_margin,
            source,
            wrap_tail=False,
            meter_changes=meter_changes,
        )

    def encode_excerpt(self, excerpt: Excerpt, add_special_tokens: bool = True) -> list[int]:
        """Token ids of an excerpt cut by :meth:`extract_excerpt` (or built by hand)."""
        meta = excerpt.meta
        lo, hi = self.settings["drum_pitch_range" if meta.is_drum else "pitch_range"]
        pitches = excerpt.score.tracks[0].notes.numpy()["pitch"] if excerpt.score.tracks else np.array([])
        meta.dropped_notes = int(((pitches < lo) | (pitches > hi)).sum())
        # miditok 3.1.0's encode() bins velocities in the Score it is given, in place:
        # hand it a copy so the caller's excerpt keeps its real velocities.
        seqs = self.engine.encode(excerpt.score.copy())
        ids = list(seqs[0].ids) if seqs else []
        bar_id = self.vocab["Bar_None"]
        ids.extend([bar_id] * (meta.bars - ids.count(bar_id)))
        if add_special_tokens:
            ids = self.build_inputs_with_special_tokens(ids)
        return ids

    def encode_midi(
        self, midi, track=None, start_bar: int = 0, bars: int = 4, add_special_tokens: bool = True
    ) -> list[int]:
        """Token ids of ``bars`` bars of one track of a MIDI path, bytes or Score."""
        return self.encode_excerpt(self.extract_excerpt(midi, track, start_bar, bars), add_special_tokens)

    def __call__(self, text=None, *args, track=None, start_bar: int = 0, bars: int = 4, **kwargs):
        """Tokenize MIDI inputs (paths, bytes, Scores) or token text into a ``BatchEncoding``.

        MIDI items are cut with ``track``/``start_bar``/``bars`` and encoded; everything
        else (padding, truncation, ``return_tensors``) is the standard transformers path.
        """
        add_special = kwargs.pop("add_special_tokens", True)
        if isinstance(text, (list, tuple)) and text and _is_midi_input(text[0]):
            ids = [self.encode_midi(m, track, start_bar, bars, add_special_tokens=False) for m in text]
            return super().__call__(ids, *args, add_special_tokens=add_special, **kwargs)
        if _is_midi_input(text):
            ids = self.encode_midi(text, track, start_bar, bars, add_special_tokens=False)
            return super().__call__(ids, *args, add_special_tokens=add_special, **kwargs)
        return super().__call__(text, *args, add_special_tokens=add_special, **kwargs)

    # ---- MIDI out ---------------------------------------------------------------------
    def _reference_meta(self, reference) -> ExcerptMeta:
        if reference is None:
            return ExcerptMeta(ticks_per_quarter=self.ticks_per_quarter)
        if isinstance(reference, Excerpt):
            return reference.meta
        if isinstance(reference, ExcerptMeta):
            return reference
        if isinstance(reference, dict):
            return ExcerptMeta.from_dict(reference)
        if isinstance(reference, symusic.Score):
            return self._meta_from_score(reference)
        raise TypeError(f"reference must be an Excerpt, ExcerptMeta, dict or symusic.Score, got {type(reference)}")

    def _meta_from_score(self, score) -> ExcerptMeta:
        """Meta of a whole score: first meter and tempo, busiest track's instrument."""
        tpq = score.ticks_per_quarter
        ts = score.time_signatures[0] if len(score.time_signatures) else None
        qpm = float(score.tempos[0].qpm) if len(score.tempos) else 120.0
        track = max(score.tracks, key=lambda t: len(t.notes)) if len(score.tracks) else None
        return ExcerptMeta(
            ticks_per_quarter=tpq,
            time_signature=(ts.numerator, ts.denominator) if ts else (4, 4),
            tempos=[(0, qpm)],
            program=track.program if track else 0,
            is_drum=track.is_drum if track else False,
            track_name=track.name if track else "",
        )

    def decode_midi(self, ids, reference=None) -> symusic.Score:
        """Decode ids to a ``symusic.Score`` at the tokenizer's resolution.

        ``reference`` (an :class:`Excerpt`, its :class:`ExcerptMeta` or dict, or a source
        ``symusic.Score``) supplies what tokens do not carry: tempo map, time signature
        (of each bar, for a window across meter changes: positions count from each bar's
        line, and a time signature is written at each change), program and drum flag.
        Without it: 4/4, 120 bpm, and the track kind the tokens imply (drum pitches
        decode to a drum track).

        Every note ends by the window's end (the end of the last bar the ``Bar`` tokens
        open): a longer duration, whichever model wrote it, is cut there.
        """
        ids = _as_list(ids)
        meta = self._reference_meta(reference)
        tokens = [self.ids_to_tokens[i] for i in ids if i in self.ids_to_tokens]
        drums = meta.is_drum if reference is not None else any(t.startswith("PitchDrum_") for t in tokens)
        tpq = self.ticks_per_quarter
        meters = meta.meters if meta.bar_meters else None
        bar_ticks = self.bar_ticks(meters) if meters else self.bar_ticks(meta.time_signature)
        default_dur = tpq // 4 if drums else tpq // 2
        notes = self.engine.tokens_to_notes(tokens, bar_ticks, default_dur)
        window_end = bar_starts(bar_ticks)(tokens.count("Bar_None"))
        if window_end:
            notes = [(on, max(1, min(dur, window_end - on)), pitch, vel) for on, dur, pitch, vel in notes]
        score = symusic.Score(tpq)
        track = symusic.Track(name=meta.track_name, program=meta.program, is_drum=drums)
        if notes:
            arr = np.array(notes, dtype=np.int64)
            track.notes = symusic.Note.from_numpy(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])
        score.tracks.append(track)
        score.time_signatures.append(symusic.TimeSignature(0, *meta.time_signature))
        if meters:
            start_of = bar_starts(bar_ticks)
            for bar in range(1, len(meters)):
                if meters[bar] != meters[bar - 1]:
                    score.time_signatures.append(symusic.TimeSignature(start_of(bar), *meters[bar]))
        scale = tpq / meta.ticks_per_quarter
        for time, qpm in meta.tempos:
            score.tempos.append(symusic.Tempo(int(round(time * scale)), qpm=qpm))
        return score

    def decode_to_midi_bytes(self, ids, reference=None) -> bytes:
        """Decode ids and serialise the result as Standard MIDI File bytes.

        A MIDI file cannot hold negative times, so a note played ahead of the first bar
        line (negative microtiming on the first beat) is written at tick 0.
        """
        return to_midi_bytes(self.decode_midi(ids, reference))

    def save_midi(self, ids, path: str | os.PathLike, reference=None) -> Path:
        """Decode ids and write a MIDI file atomically (temporary file, then rename)."""
        return atomic_write_bytes(path, self.decode_to_midi_bytes(ids, reference))

    # ---- composition vs performance -------------------------------------------------
    def composition_ids(self, ids) -> list[int]:
        """Keep Bar/TimeShift/Pitch/Duration (and BOS/EOS/PAD): what the composer models."""
        drop = (Kind.VEL, Kind.MICRO, Kind.MASK)
        return [i for i in _as_list(ids) if self._kinds[i] not in drop]

    def mask_performance(self, ids) -> list[int]:
        """Replace every Velocity and MicroTiming token with MASK: what the performer reads."""
        mask = self.mask_token_id
        return [mask if self._kinds[i] in (Kind.VEL, Kind.MICRO) else i for i in _as_list(ids)]

    def add_performance_slots(self, composition_ids) -> list[int]:
        """Insert MASK slots after every note of a composition-only sequence.

        Turns composer output into performer input: ``Pitch Duration`` becomes
        ``Pitch MASK MASK Duration`` (one MASK per performance token of a note).
        """
        n_slots = int(self.settings["use_microtiming"]) + 1
        out = []
        for i in _as_list(composition_ids):
            out.append(i)
            if self._kinds[i] in (Kind.PITCH, Kind.DRUM):
                out.extend([self.mask_token_id] * n_slots)
        return out

    def performance_slots(self, ids) -> tuple[list[bool], list[bool]]:
        """Boolean masks of the velocity slots and microtiming slots of a sequence.

        Slots are found by position (the tokens right after each pitch), so they work
        on full, masked or half-filled sequences alike.
        """
        ids = _as_list(ids)
        vel, micro = [False] * len(ids), [False] * len(ids)
        order = ([micro] if self.settings["use_microtiming"] else []) + [vel]
        kinds = [self._kinds[i] for i in ids]
        for p, kind in enumerate(kinds):
            if kind not in _NOTE_KINDS:
                continue
            for offset, slots in enumerate(order, start=1):
                q = p + offset
                if q < len(ids) and kinds[q] in _SLOT_KINDS:
                    slots[q] = True
        return vel, micro

    def merge_performance(self, masked_ids, predicted_ids) -> list[int]:
        """Put predicted performance tokens into the MASK slots; keep every other token.

        Raises ValueError if the lengths differ or a slot receives a non-performance
        token (composition tokens always come from ``masked_ids``).
        """
        masked, predicted = _as_list(masked_ids), _as_list(predicted_ids)
        if len(masked) != len(predicted):
            raise ValueError(f"length mismatch: {len(masked)} masked ids vs {len(predicted)} predicted")
        vel, micro = self.performance_slots(masked)
        out = list(masked)
        for p, i in enumerate(masked):
            if i != self.mask_token_id:
                continue
            want = Kind.VEL if vel[p] else Kind.MICRO if micro[p] else None
            got = self._kinds[predicted[p]]
            if want is None or got != want:
                raise ValueError(f"position {p}: slot wants {want.name if want else 'nothing'}, got {Kind(got).name}")
            out[p] = predicted[p]
        return out

    # ---- grammar ----------------------------------------------------------------------
    def grammar_errors(self, ids, bars: int | None = None, time_signature=(4, 4), require_eos: bool = False) -> int:
        """Number of grammar errors in one sequence (0 for a valid one; see ``grammar``).

        ``time_signature``: one meter ``(num, den)`` for every bar, or each bar's meter
        (``((4, 4), (3, 4), ...)``, ``ExcerptMeta.meter``): a position past its own bar's end is an error.
        """
        return self.grammar.count_errors(_as_list(ids), bars, self.bar_ticks(time_signature), require_eos)


def is_per_bar(time_signature) -> bool:
    """Whether ``time_signature`` lists one meter per bar (``((4, 4), (3, 4))``) rather than being one meter."""
    return (
        isinstance(time_signature, (list, tuple))
        and bool(time_signature)
        and isinstance(time_signature[0], (list, tuple))
    )


def check_meter(meter) -> tuple[int, int]:
    """``(numerator, denominator)`` of a meter given as a pair or as text like ``"4/4"``."""
    if isinstance(meter, str):
        num, sep, den = meter.partition("/")
        meter = (num, den) if sep else ()
    try:
        num, den = (int(x) for x in meter)
    except (TypeError, ValueError):
        raise ValueError(f"a meter looks like 4/4 or (4, 4), got {meter!r}") from None
    if not 1 <= num <= 64 or den not in (1, 2, 4, 8, 16, 32, 64):
        raise ValueError(f"meter {num}/{den}: the numerator must be 1-64 and the denominator a power of 2 up to 64")
    return num, den


def to_midi_bytes(score: symusic.Score) -> bytes:
    """Standard MIDI File bytes of a score, onsets before tick 0 moved to tick 0."""
    for track in score.tracks:
        notes = track.notes.numpy()
        if len(notes["time"]) and notes["time"].min() < 0:
            early = notes["time"] < 0
            notes["duration"][early] += notes["time"][early]
            notes["duration"] = np.maximum(notes["duration"], 1)
            notes["time"][early] = 0
            track.notes = symusic.Note.from_numpy(**notes)
    return score.dumps_midi()


def _as_list(ids) -> list[int]:
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if not isinstance(ids, Sequence) or (ids and not isinstance(ids[0], (int, np.integer))):
        raise TypeError("expected one sequence of token ids")
    return [int(i) for i in ids]


__all__ = ["PerTokTokenizer", "build_engine", "check_meter", "is_per_bar", "MidiInputError"]
