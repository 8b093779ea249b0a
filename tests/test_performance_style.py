"""Issue 16: performance styles, keeping the user's own performance and the humanize blend."""

from __future__ import annotations

import math

import pytest

from cadenza_hf.generation.performance import blend_performance, expressive_families
from cadenza_hf.hub import defaults


@pytest.fixture(scope="module")
def pipe():
    if not defaults.has_checkpoint(defaults.PERFORMER_PITCHED):
        pytest.skip("no shipped pitched performer")
    from transformers import pipeline

    import cadenza_hf  # noqa: F401  (registers the tasks)

    return pipeline("midi-performance")


@pytest.fixture(scope="module")
def midi(tmp_path_factory):
    import symusic

    score = symusic.Score(480)
    track = symusic.Track("piano")
    for k in range(16):  # expressive input: velocities vary, onsets off the grid
        track.notes.append(symusic.Note(k * 240 + (k % 3) * 8, 200, 60 + k % 5, 40 + 4 * k))
    score.tracks.append(track)
    path = tmp_path_factory.mktemp("style") / "in.mid"
    score.dump_midi(str(path))
    return str(path)


def test_styles_listed_and_defaults(pipe, midi):
    assert pipe.styles == ("drums", "pop", "classical")
    assert defaults.default_style(True) == "drums" and defaults.default_style(False) == "pop"
    out = pipe(midi, seed=0)
    assert out["options"]["style"] == "pop"
    assert pipe(midi, seed=0, style="pop")["input_ids"] == out["input_ids"]  # pop is the pitched default


@pytest.mark.parametrize(
    "bad", [dict(style="jazz"), dict(humanize=1.5), dict(humanize=-0.1), dict(humanize=math.nan), dict(steps=0)]
)
def test_bad_options_raise_one_clear_error(pipe, midi, bad):
    with pytest.raises(ValueError, match="style|humanize|steps"):
        pipe(midi, **bad)


def test_keep_performance_and_humanize(pipe, midi):
    tok = pipe.tokenizer
    own = pipe(midi, temperature=0.0, humanize=0.0)  # humanize 0: the input's own performance
    performed = pipe(midi, temperature=0.0)
    assert expressive_families(tok, own["input_ids"]) == ("velocity", "microtiming")
    kept = pipe(midi, temperature=0.0, keep_performance=True)
    assert kept["input_ids"] == own["input_ids"]  # both families expressive: everything kept
    assert own["input_ids"] != performed["input_ids"]
    half = blend_performance(tok, own["input_ids"], performed["input_ids"], 0.5)
    assert pipe(midi, temperature=0.0, humanize=0.5)["input_ids"] == half
    assert blend_performance(tok, own["input_ids"], performed["input_ids"], 1.0) == performed["input_ids"]


def test_steps_default_to_the_performers_own_unmask_steps(pipe, midi):
    """No ``steps``: the performer's ``config.unmask_steps`` (one-shot for a 100%-mask performer, iterative for a
    coherent one); an explicit ``steps`` wins."""
    performer = pipe.performer_for(False)
    saved = performer.config.unmask_steps
    try:
        for own in (1, 4):
            performer.config.unmask_steps = own
            out = pipe(midi, seed=3)
            assert out["options"]["steps"] == own
            assert out["input_ids"] == pipe(midi, seed=3, steps=own)["input_ids"]
        assert pipe(midi, seed=3, steps=1)["options"]["steps"] == 1
    finally:
        performer.config.unmask_steps = saved


@pytest.mark.parametrize("bad", [0, -2, True, 1.5])
def test_unmask_steps_config_is_checked(bad):
    from huggingface_hub.errors import StrictDataclassClassValidationError, StrictDataclassFieldValidationError

    from cadenza_hf.modeling.performer import CadenzaPerformerConfig

    errors = (StrictDataclassClassValidationError, StrictDataclassFieldValidationError)
    with pytest.raises(errors, match="unmask_steps"):
        CadenzaPerformerConfig(unmask_steps=bad)


def test_unmask_order_config_is_checked():
    from huggingface_hub.errors import StrictDataclassClassValidationError, StrictDataclassFieldValidationError

    from cadenza_hf.modeling.performer import CadenzaPerformerConfig

    assert CadenzaPerformerConfig().unmask_order == "confidence"
    errors = (StrictDataclassClassValidationError, StrictDataclassFieldValidationError)
    with pytest.raises(errors, match="unmask_order"):
        CadenzaPerformerConfig(unmask_order="random")
