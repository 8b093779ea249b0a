"""The local web app behind ``cadenza demo`` (and a Hugging Face Space's ``app.py``).

It loads the composer and the performers once (:class:`~cadenza_hf.app.studio.Studio`)
and serves four tabs, Vary, Generate, Humanize and Interpolate, each also an API endpoint
of the same name for ``gradio_client`` (see :mod:`cadenza_hf.app.ui`). Needs the ``demo``
extra (Gradio); audio previews need the ``audio`` extra too.

By default the app listens on 127.0.0.1 only and nothing leaves the machine; Gradio's
public share link is opened only with ``share=True`` (``cadenza demo --share``).
"""

from __future__ import annotations

import os

LOCAL_HOST = "127.0.0.1"


def build_app(composer=None, performer=None, workdir=None):
    """The Gradio Blocks of the app, with its models loaded (not launched)."""
    from .studio import Studio
    from .ui import build_app as build

    return build(Studio(composer=composer, performer=performer, workdir=workdir))


def launch(port: int | None = 7860, share: bool = False, composer=None, performer=None, open_browser: bool = False):
    """Load the models, then serve the app on 127.0.0.1:``port`` until interrupted.

    On a Hugging Face Space (``SPACE_ID`` is set) the Space's own host and port are used.
    """
    from .ui import local_theme

    app = build_app(composer=composer, performer=performer)
    on_space = "SPACE_ID" in os.environ
    app.launch(
        server_name=None if on_space else LOCAL_HOST,
        server_port=None if on_space else port,
        share=share,
        inbrowser=open_browser,
        footer_links=["api"],
        theme=local_theme(),
    )


__all__ = ["LOCAL_HOST", "build_app", "launch"]
