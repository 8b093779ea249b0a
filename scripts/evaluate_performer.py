#!/usr/bin/env python
"""Kept so that recorded commands (`python scripts/evaluate_performer.py ...`) still run.

The code lives in the package: `cadenza_hf.evaluation.evaluate_performer` (`cadenza evaluate performer`, or `python -m cadenza_hf.evaluation.evaluate_performer`).
"""

import sys

from cadenza_hf.evaluation.evaluate_performer import main

if __name__ == "__main__":
    sys.exit(main())
