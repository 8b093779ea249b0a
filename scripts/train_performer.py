#!/usr/bin/env python
"""Kept so that recorded commands (`python scripts/train_performer.py ...`) still run.

The code lives in the package: `cadenza_hf.training.performer` (`cadenza train performer`, or `python -m cadenza_hf.training.performer`).
"""

import sys

from cadenza_hf.training.performer import main

if __name__ == "__main__":
    sys.exit(main())
