#!/usr/bin/env python
"""Kept so that recorded commands (`python scripts/train_composer.py ...`) still run.

The code lives in the package: `cadenza_hf.training.composer` (`cadenza train composer`, or `python -m cadenza_hf.training.composer`).
"""

import sys

from cadenza_hf.training.composer import main

if __name__ == "__main__":
    sys.exit(main())
