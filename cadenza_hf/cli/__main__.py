"""``python -m cadenza_hf.cli``: the same as the ``cadenza`` console script."""

import sys

from . import main

sys.exit(main())
