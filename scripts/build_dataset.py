#!/usr/bin/env python
"""Kept so that recorded commands (`python scripts/build_dataset.py ...`) still run.

The code lives in the package: `cadenza_hf.data.__main__` (`cadenza build-dataset`, or `python -m cadenza_hf.data`).
"""

import sys

from cadenza_hf.data.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
