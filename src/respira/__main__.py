"""``python -m respira`` (also ``accelerate launch -m respira ...``)."""

import sys

from .cli import main

sys.exit(main())
