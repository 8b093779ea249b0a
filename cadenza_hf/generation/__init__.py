"""Decoding helpers between the tokenizer and the models.

- :mod:`.logits_process`: grammar-constrained and kind-first logits processors;
- :mod:`.variation`: latents to token sequences (variations, new ideas, interpolation);
- :mod:`.performance`: filling velocity and microtiming slots with a performer.

Imports :mod:`cadenza_hf.tokenization` and :mod:`cadenza_hf.utils`; models are passed in.
"""
