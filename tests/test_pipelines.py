"""The midi-variation and midi-performance pipelines on real files, with tiny random models."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import symusic
from transformers import pipeline

from cadenza_hf import MidiInputError, read_midi
from cadenza_hf.examples import example_beat, example_idea
from cadenza_hf.pipelines import MidiPerformancePipeline, MidiVariationPipeline, register_pipelines
from cadenza_hf.pipelines.midi_inputs import excerpt_kind
from cadenza_hf.pipelines.performers import resolve_performers, select_performer

from .tiny_models import save_tiny_checkpoints, tiny_performer

KEYS = ["composition_ids", "input_ids", "midi", "options", "score"]


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory, tokenizer):
    return save_tiny_checkpoints(tmp_path_factory.mktemp("checkpoints"), tokenizer)


@pytest.fixture(scope="module")
def pipe(tiny_root):
    return pipeline(
        "midi-variation",
        model=str(tiny_root / "composer"),
        performer=[str(tiny_root / "performer-drums"), str(tiny_root / "performer-pitched")],
    )


@pytest.fixture(scope="module")
def perform_pipe(tiny_root):
    return pipeline(
        "midi-performance", model=str(tiny_root / "performer-pitched"), performer=str(tiny_root / "performer-drums")
    )


@pytest.fixture(scope="session")
def groove_file(data_dir):
    return str(sorted((data_dir / "groove" / "drummer1" / "session1").glob("*beat*.mid"))[0])


@pytest.fixture(scope="session")
def pop909_file(data_dir):
    return str(data_dir / "pop909" / "001" / "001.mid")


def _check_result(result, tok, reference):
    assert sorted(result) == KEYS
    assert tok.grammar_errors(result["input_ids"], bars=reference.bars, time_signature=reference.time_signature) == 0
    assert tok.composition_ids(result["input_ids"]) == result["composition_ids"]
    score = read_midi(result["midi"])  # valid MIDI bytes
    assert score.note_num() == result["score"].note_num() > 0
    track = result["score"].tracks[0]
    assert (track.is_drum, track.program, track.name) == (reference.is_drum, reference.program, reference.track_name)
    ts = result["score"].time_signatures[0]
    assert (ts.numerator, ts.denominator) == tuple(reference.time_signature)
    assert result["score"].tempos[0].qpm == pytest.approx(reference.tempos[0][1], rel=1e-4)


def test_variations_of_a_real_pop909_melody_keep_tempo_meter_and_kind(pipe, pop909_file, tokenizer):
    reference = tokenizer.extract_excerpt(pop909_file, "MELODY", 8, 4).meta  # 2/4 at 90 bpm
    results = pipe(pop909_file, track="MELODY", start_bar=8, num_variations=3, seed=0)
    assert len(results) == 3
    for i, result in enumerate(results):
        _check_result(result, tokenizer, reference)
        assert result["options"]["kind"] == "melody" and result["options"]["index"] == i
        assert excerpt_kind(tokenizer, result["composition_ids"], False) == "melody"  # one note per onset


def test_variations_of_a_real_groove_go_to_the_drum_performer(pipe, groove_file, tokenizer, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the pitched performer was used for drums")

    monkeypatch.setattr(pipe.performers["pitched"], "fill_performance", refuse)
    reference = tokenizer.extract_excerpt(groove_file).meta
    (result,) = pipe(groove_file, num_variations=1, variation_strength=0.2, seed=1)
    _check_result(result, tokenizer, reference)
    assert result["options"]["kind"] == "drums" and result["options"]["variation_strength"] == 0.2


def test_same_seed_same_bytes_other_seed_other_music(pipe):
    first = pipe(example_idea(), num_variations=2, seed=7)
    again = pipe(example_idea(), num_variations=2, seed=7)
    other = pipe(example_idea(), num_variations=2, seed=8)
    assert [r["midi"] for r in first] == [r["midi"] for r in again]
    assert [r["midi"] for r in first] != [r["midi"] for r in other]


@pytest.mark.parametrize("kind", ["drums", "melody", "polyphonic"])
def test_new_ideas_follow_their_kind(pipe, tokenizer, kind):
    results = pipe(kind=kind, num_variations=3, seed=2, time_signature=(3, 4), qpm=100.0, bars=2)
    for result in results:
        assert result["options"]["mode"] == "generate" and result["options"]["kind"] == kind
        assert tokenizer.grammar_errors(result["input_ids"], bars=2, time_signature=(3, 4)) == 0
        assert result["score"].tracks[0].is_drum == (kind == "drums")
        assert result["score"].tempos[0].qpm == pytest.approx(100.0)
        if kind == "melody":
            assert excerpt_kind(tokenizer, result["composition_ids"], False) == "melody"


def test_interpolation_goes_from_one_idea_to_the_other(pipe, tokenizer):
    results = pipe(example_idea(), interpolate_to=example_idea(qpm=80), steps=3, seed=0)
    assert len(results) == 3 and {r["options"]["mode"] for r in results} == {"interpolate"}
    assert all(r["score"].tempos[0].qpm == pytest.approx(96.0) for r in results)  # the first idea's tempo
    with pytest.raises(ValueError, match="drum track and a pitched"):
        pipe(example_idea(), interpolate_to=example_beat(), steps=3)


def test_performance_pipeline_humanises_a_real_file_and_keeps_its_score(perform_pipe, groove_file, tokenizer):
    excerpt = tokenizer.extract_excerpt(groove_file)
    result = perform_pipe(groove_file, seed=3)
    _check_result(result, tokenizer, excerpt.meta)
    assert result["composition_ids"] == tokenizer.composition_ids(tokenizer.encode_excerpt(excerpt))
    assert result["score"].note_num() == excerpt.score.note_num()
    assert perform_pipe(groove_file, seed=3)["midi"] == result["midi"]
    assert result["options"]["kind"] == "drums"


def test_performance_pipeline_point_estimates(perform_pipe, groove_file):
    default = perform_pipe(groove_file, temperature=0.0)
    assert default["options"]["point_estimate"] == "mean" and default["options"]["steps"] == 1  # one pass at T=0
    argmax = perform_pipe(groove_file, temperature=0.0, point_estimate="argmax")
    median = perform_pipe(groove_file, temperature=0.0, point_estimate="median")
    assert median["options"]["point_estimate"] == "median" and argmax["options"]["point_estimate"] == "argmax"
    assert perform_pipe(groove_file, temperature=0.0, point_estimate="median", seed=9)["midi"] == median["midi"]
    assert median["composition_ids"] == argmax["composition_ids"]
    with pytest.raises(ValueError, match="point_estimate must be one of"):
        perform_pipe(groove_file, temperature=0.0, point_estimate="mode")


def test_bad_inputs_raise_clear_errors(pipe, perform_pipe):
    with pytest.raises(ValueError, match="variation_strength must be in"):
        pipe(example_idea(), variation_strength=1.5)
    with pytest.raises(MidiInputError, match="track 5 does not exist"):
        pipe(example_idea(), track=5)
    with pytest.raises(MidiInputError, match="not a MIDI file"):
        perform_pipe(b"RIFF\x00\x00\x00\x00WAVEfmt and more bytes")
    with pytest.raises(ValueError, match="cannot be varied as"):
        pipe(example_beat(), kind="melody")
    with pytest.raises(ValueError, match="kind must be one of"):
        pipe(kind="jazz")


def test_performer_routing_by_kind(tiny_root, tokenizer):
    performers = resolve_performers([str(tiny_root / "performer-pitched"), str(tiny_root / "performer-drums")])
    assert select_performer(performers, drums=True).config.performer_kind == "drums"
    assert select_performer(performers, drums=False).config.performer_kind == "pitched"
    unknown = {"any": tiny_performer(tokenizer)}
    assert select_performer(unknown, drums=True) is unknown["any"]
    with pytest.raises(ValueError, match="two performers of kind 'any'"):
        resolve_performers([tiny_performer(tokenizer), tiny_performer(tokenizer)])


def test_performer_kind_from_a_training_record(tmp_path, tokenizer):
    from cadenza_hf.pipelines import performer_kind

    for collections, kind in ((["groove"], "drums"), (["pop909"], "pitched"), (["groove", "pop909"], "any")):
        folder = tmp_path / "-".join(collections)
        tiny_performer(tokenizer).save_pretrained(folder)
        (folder / "training_record.json").write_text(f'{{"data": {{"collections": {collections}}}}}'.replace("'", '"'))
        assert performer_kind(resolve_performers(str(folder))[kind]) == kind


def test_saved_pipeline_reloads_without_trust_remote_code(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "saved")
    names = sorted(p.name for p in (tmp_path / "saved").iterdir())
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer_config.json",
        "vocab.json",
        "performer-drums",
        "performer-pitched",
    } <= set(names)
    reloaded = pipeline("midi-variation", model=str(tmp_path / "saved"))  # this process imported cadenza_hf
    assert isinstance(reloaded, MidiVariationPipeline) and sorted(reloaded.performers) == ["drums", "pitched"]
    ours = [r["midi"] for r in pipe(example_beat(), num_variations=2, seed=4)]
    assert [r["midi"] for r in reloaded(example_beat(), num_variations=2, seed=4)] == ours


def test_saved_performance_pipeline_reloads(perform_pipe, tmp_path):
    perform_pipe.save_pretrained(tmp_path / "perf")
    reloaded = pipeline("midi-performance", model=str(tmp_path / "perf"))
    assert isinstance(reloaded, MidiPerformancePipeline) and sorted(reloaded.performers) == ["drums", "pitched"]
    assert reloaded(example_idea(), seed=1)["midi"] == perform_pipe(example_idea(), seed=1)["midi"]


def test_saved_pipeline_loads_with_trust_remote_code_in_a_fresh_process(pipe, tmp_path):
    """A process that never imported cadenza_hf: the task and classes come from config.json."""
    pipe.save_pretrained(tmp_path / "saved")
    code = f"""
import sys
from transformers import pipeline
p = pipeline(model={str(tmp_path / "saved")!r}, trust_remote_code=True)
from cadenza_hf.examples import example_idea
out = p(example_idea(), num_variations=1, seed=4)
print(type(p).__name__, p.task, sorted(p.performers), len(out[0]["midi"]) > 0)
"""
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["MidiVariationPipeline", "cadenza-midi-variation", "['drums',", "'pitched']", "True"]


def test_pipeline_without_a_model_uses_the_default_checkpoints(tiny_root, monkeypatch):
    monkeypatch.setenv("CADENZA_CHECKPOINTS", str(tiny_root))
    register_pipelines()
    try:
        pipe = pipeline("midi-variation")
        assert pipe.model.name_or_path == str(tiny_root / "composer")
        assert sorted(pipe.performers) == ["drums", "pitched"]
        perform = pipeline("midi-performance")
        assert sorted(perform.performers) == ["drums", "pitched"]
        assert perform(example_beat(), seed=0)["score"].tracks[0].is_drum
    finally:
        monkeypatch.delenv("CADENZA_CHECKPOINTS")
        register_pipelines()


def test_model_object_without_tokenizer_gets_the_default_one(tokenizer):
    from .tiny_models import tiny_composer

    pipe = pipeline("midi-variation", model=tiny_composer(tokenizer), performer=tiny_performer(tokenizer))
    assert pipe.tokenizer.get_vocab() == tokenizer.get_vocab()
    (result,) = pipe(example_idea(), num_variations=1, seed=0)
    assert isinstance(result["score"], symusic.Score)
