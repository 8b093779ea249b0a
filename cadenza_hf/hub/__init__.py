"""Where checkpoints live and how they travel: shipped defaults, model cards, Hub uploads.

- :mod:`.defaults`: the checkpoints shipped inside the package (or ``$CADENZA_CHECKPOINTS``);
- :mod:`.cards`: filling and reading model cards;
- :mod:`.publishing`: saving and pushing a model with its card;
- :mod:`.legacy`: converting performers saved by cadenza_hf 0.1.
"""
