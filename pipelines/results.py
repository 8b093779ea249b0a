"""What the pipelines return: one dict per generated excerpt.

Keys:

- ``midi``: Standard MIDI File bytes;
- ``score``: the same music as a ``symusic.Score`` (tokenizer resolution, 480 tpq);
- ``composition_ids``: the composer's tokens (Bar/TimeShift/Pitch/Duration, BOS...EOS);
- ``input_ids``: the full PerTok ids after the performer (Velocity/MicroTiming filled);
- ``options``: the settings that produced it (JSON-able); ``options["duplicates"]`` counts the
  outputs of the call whose composition repeats an earlier one's (a warning is logged too).

Decoding uses the input excerpt's meta as reference, so tempo map, meter, program,
drum flag and track name of the input are kept.
"""

from __future__ import annotations

import logging

from ..tokenization.tokenization_pertok import to_midi_bytes

logger = logging.getLogger(__name__)


def count_duplicates(rows, what: str = "outputs") -> int:
    """How many composition rows repeat an earlier row exactly; logs a warning when any do."""
    seen, repeats = set(), 0
    for row in rows:
        key = tuple(int(i) for i in row)
        repeats += key in seen
        seen.add(key)
    if repeats:
        logger.warning(
            "%d of %d %s repeat the composition of an earlier one (greedy or low-temperature decoding)",
            repeats,
            len(rows),
            what,
        )
    return repeats


def build_result(tokenizer, composition_ids, input_ids, reference, options: dict) -> dict:
    """One output dict (see the module docstring)."""
    score = tokenizer.decode_midi(input_ids, reference)
    midi = to_midi_bytes(score)  # also moves notes played ahead of tick 0 onto it, in ``score``
    return {
        "midi": midi,
        "score": score,
        "composition_ids": list(composition_ids),
        "input_ids": list(input_ids),
        "options": dict(options),
    }


class TokenProgress:
    """A ``generate()`` streamer that shows a progress bar over decoding steps.

    ``generate`` calls ``put`` with the prompt, then once per step, and ``end`` at the
    end; the bar's total is the token budget (generation usually stops earlier).
    """

    def __init__(self, total: int, desc: str = "composing"):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="tok", leave=False)
        self.prompt_seen = False

    def put(self, value) -> None:
        if self.prompt_seen:
            self.bar.update(1)
        self.prompt_seen = True

    def end(self) -> None:
        self.bar.close()


__all__ = ["TokenProgress", "build_result", "count_duplicates"]
