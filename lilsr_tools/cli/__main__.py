"""``python -m lilsr_tools.cli``: the same as the ``lilsr`` command."""

import sys

from . import main

sys.exit(main())
