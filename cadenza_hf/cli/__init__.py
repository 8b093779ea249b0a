"""The ``cadenza`` command line (console script ``cadenza = cadenza_hf.cli:main``).

:mod:`.parser` parses arguments with the standard library only, so ``cadenza --help``
is instant; :mod:`.commands`, :mod:`.music` and :mod:`.tools` implement the commands and
import models only when a command needs them. Add a command by giving it a sub-parser in
:func:`.parser.build_parser` and a ``cmd_<name>(args)`` in one of those modules' ``COMMANDS``.
"""

from .parser import build_parser, main

__all__ = ["build_parser", "main"]
