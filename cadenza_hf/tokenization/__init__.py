"""MIDI in and out, excerpts, the PerTok grammar and the transformers tokenizer.

- :mod:`.midi_io`: the guarded MIDI reader (limits, one clear error per bad file);
- :mod:`.alignment`: bar grids from beat annotations or onsets;
- :mod:`.excerpt`: bar-aligned single-track windows and their side information;
- :mod:`.pertok_engine`: the PerTok event coding on top of miditok;
- :mod:`.grammar`: what a valid token sequence is (used to check and to constrain decoding);
- :mod:`.tokenization_pertok`: :class:`PerTokTokenizer`, the transformers tokenizer.

Never imports models, pipelines or torch itself (transformers and miditok may).
"""
