"""The Gradio page of ``cadenza demo``: four tabs over one :class:`~cadenza_hf.app.studio.Studio`.

Each tab is a list of :class:`Control` rows: a control is one line, named after the
keyword it is passed as (to the Studio method, which hands unknown ones to the pipeline).
A control marked ``when_supported`` appears only when the pipeline takes that keyword,
so the performer's ``style`` and ``humanize`` options show up as soon as the pipelines
accept them, with no other change here.

Every tab's button is also an API endpoint with a stable name (``/vary``, ``/generate``,
``/humanize``, ``/interpolate``): its inputs are the tab's controls, in order, and it
returns the MIDI files, the zip of all outputs and a one-line summary.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, replace

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves the machine by default

import gradio as gr  # noqa: E402

from .studio import Batch, Studio, StudioInputError

TITLE = "cadenza: variations of a MIDI idea"
MAX_OUTPUTS = 8
QUEUE_SIZE = 64
MODELS = "models"  # one concurrency group: one request at a time on the models


@dataclass(frozen=True)
class Control:
    """One input of a tab: the keyword it is passed as, and how to build its component
    (``make()``, or ``make(studio)`` for a control whose choices come from the models).

    ``when_supported``: ``"variation"`` or ``"performance"``: show the control only when
    that pipeline accepts the keyword. ``none_if``: a value that means "leave it out".
    """

    name: str
    make: Callable[[], gr.Component]
    when_supported: str | None = None
    none_if: object = None


def _midi_upload(label="MIDI idea (.mid); empty: the built-in example idea"):
    return lambda: gr.File(label=label, file_types=[".mid", ".midi"], type="filepath")


_WINDOW = [
    Control("track", lambda: gr.Textbox(label="Track (index or name; empty: the busiest)", value="")),
    Control(
        "start_bar", lambda: gr.Number(label="Start bar (empty: the first bars with notes)", precision=0, minimum=0)
    ),
]
_SEED = Control("seed", lambda: gr.Number(label="Seed (-1: random)", value=-1, precision=0))
# The performer's options: they appear once midi-variation / midi-performance accept them.
_STYLE = Control(
    "style",
    lambda studio: gr.Dropdown(["auto", *studio.styles()], value="auto", label="Performer style"),
    none_if="auto",
)
_HUMANIZE = Control("humanize", lambda: gr.Slider(0, 1, value=1.0, step=0.05, label="Humanize amount"))

TABS = {
    "vary": [
        Control("midi", _midi_upload()),
        *_WINDOW,
        Control("num_variations", lambda: gr.Slider(1, MAX_OUTPUTS, value=4, step=1, label="Variations")),
        Control("variation_strength", lambda: gr.Slider(0, 1, value=0.5, step=0.05, label="Strength (0: close)")),
        Control(
            "kind", lambda: gr.Dropdown(["auto", "melody", "polyphonic"], value="auto", label="Kind"), none_if="auto"
        ),
        replace(_STYLE, when_supported="variation"),
        _SEED,
    ],
    "generate": [
        Control("kind", lambda: gr.Dropdown(["polyphonic", "melody", "drums"], value="polyphonic", label="Kind")),
        Control("num_variations", lambda: gr.Slider(1, MAX_OUTPUTS, value=4, step=1, label="Ideas")),
        Control("time_signature", lambda: gr.Textbox(label="Time signature", value="4/4")),
        Control("qpm", lambda: gr.Number(label="Tempo (quarter notes per minute)", value=120, minimum=1, maximum=1000)),
        _SEED,
    ],
    "humanize": [
        Control("midi", _midi_upload("Quantized MIDI (.mid); empty: the built-in example idea")),
        *_WINDOW,
        Control("temperature", lambda: gr.Slider(0, 2, value=1.0, step=0.05, label="Temperature (0: most likely)")),
        replace(_STYLE, when_supported="performance"),
        replace(_HUMANIZE, when_supported="performance"),
        _SEED,
    ],
    "interpolate": [
        Control("midi_a", _midi_upload("Idea A (.mid); empty: the built-in example idea")),
        Control("midi_b", _midi_upload("Idea B (.mid)")),
        *_WINDOW,
        Control("steps", lambda: gr.Slider(2, MAX_OUTPUTS, value=5, step=1, label="Steps (both ends included)")),
        _SEED,
    ],
}
BUTTONS = {"vary": "Vary", "generate": "Generate", "humanize": "Humanize", "interpolate": "Interpolate"}
_INTEGERS = {"num_variations", "steps", "start_bar"}


def _make(control: Control, studio: Studio) -> gr.Component:
    """The control's component; a ``make`` that takes an argument gets the studio (e.g. for choices)."""
    return control.make(studio) if inspect.signature(control.make).parameters else control.make()


def active_controls(studio: Studio, tab: str) -> list[Control]:
    """The tab's controls that this studio's pipelines support."""
    return [c for c in TABS[tab] if c.when_supported is None or studio.accepts(c.when_supported, c.name)]


def endpoint(studio: Studio, tab: str, controls: list[Control], defaults: list | None = None) -> Callable:
    """The function behind a tab's button and its API endpoint.

    Its parameters are named after the controls, with the controls' initial values as
    defaults (``defaults``), so an API call may leave out any of them.
    """
    method = getattr(studio, tab)

    def run(*values, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 (Gradio's injection idiom)
        kwargs = {}
        for control, value in zip(controls, values):
            if value is None or value == control.none_if:
                continue
            kwargs[control.name] = int(value) if control.name in _INTEGERS else value
        try:
            batch: Batch = method(**kwargs)
        except StudioInputError as err:
            raise gr.Error(str(err), print_exception=False) from None
        summary = "  \n".join([batch.summary, *batch.notes])
        return batch.midi_files, batch.zip, summary, [r.__dict__ for r in batch.results]

    defaults = defaults if defaults is not None else [None] * len(controls)
    params = [
        inspect.Parameter(c.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=value)
        for c, value in zip(controls, defaults)
    ]
    params.append(inspect.Parameter("progress", inspect.Parameter.KEYWORD_ONLY, default=gr.Progress(track_tqdm=True)))
    run.__signature__ = inspect.Signature(params)
    run.__name__ = tab
    return run


def _show_results(results: list[dict]) -> None:
    """Each output as a piano roll, an audio player and its MIDI file (inside a gr.render)."""
    for result in results or []:
        with gr.Group():
            gr.Markdown(f"**{result['label']}**")
            with gr.Row():
                if result.get("png"):
                    gr.Image(result["png"], show_label=False, type="filepath", scale=3, elem_classes=["piano-roll"])
                with gr.Column(scale=2):
                    if result.get("wav"):
                        gr.Audio(result["wav"], label="listen", type="filepath", elem_classes=["preview-audio"])
                    gr.File(result["midi"], label="MIDI (drag it into your DAW)", elem_classes=["midi-file"])


def build_app(studio: Studio) -> gr.Blocks:
    """The page: one tab per :data:`TABS` entry, its results below its button."""
    with gr.Blocks(title=TITLE, delete_cache=(3600, 3600), analytics_enabled=False) as app:
        gr.Markdown(
            f"# {TITLE}\nUpload a 4-bar MIDI idea, or leave the upload empty for the built-in example. "
            "Results are MIDI files to drag into any DAW; everything runs on this machine."
        )
        for tab, controls in ((tab, active_controls(studio, tab)) for tab in TABS):
            with gr.Tab(BUTTONS[tab], id=tab):
                with gr.Row():
                    with gr.Column():
                        inputs = [_make(control, studio) for control in controls]
                        button = gr.Button(BUTTONS[tab], variant="primary", elem_id=f"{tab}-button")
                    with gr.Column():
                        summary = gr.Markdown(elem_id=f"{tab}-summary")
                        files = gr.File(label="MIDI files", file_count="multiple", elem_id=f"{tab}-files")
                        bundle = gr.File(label="All outputs (zip)", elem_id=f"{tab}-zip")
                state = gr.State([])
                button.click(
                    endpoint(studio, tab, controls, [component.value for component in inputs]),
                    inputs=inputs,
                    outputs=[files, bundle, summary, state],
                    api_name=tab,
                    concurrency_id=MODELS,
                    concurrency_limit=1,
                )
                gr.render(inputs=state)(_show_results)
    app.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
    return app


def local_theme() -> gr.themes.Theme:
    """Gradio's default look with the system's fonts (the stock theme fetches web fonts from outside)."""
    sans = ["ui-sans-serif", "system-ui", "sans-serif"]
    return gr.themes.Default(font=sans, font_mono=["ui-monospace", "monospace"])


__all__ = ["BUTTONS", "TABS", "Control", "active_controls", "build_app", "endpoint", "local_theme"]
