"""The ``respira`` command (``python -m respira``, the installed script, ``accelerate launch -m respira``)."""

import sys

from respira.cli import main

if __name__ == "__main__":
    sys.exit(main())
