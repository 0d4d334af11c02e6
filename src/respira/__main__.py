"""The ``respira`` command (``python -m respira``, the installed script, ``accelerate launch -m respira``)."""

import sys

import respira

respira._COMMAND_LINE = True  # before respira.cli imports transformers: no models registered as it does
from respira.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
