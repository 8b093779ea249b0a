#!/usr/bin/env python
"""Kept so that recorded commands (`python scripts/evaluate_composer.py ...`) still run.

The code lives in the package: `cadenza_hf.evaluation.evaluate_composer` (`cadenza evaluate composer`, or `python -m cadenza_hf.evaluation.evaluate_composer`).
"""

import sys

from cadenza_hf.evaluation.evaluate_composer import main

if __name__ == "__main__":
    sys.exit(main())
