"""``python -m lilsr_tools.cli``: the ``lilsr`` command without the console script (tests run it this way)."""

from . import main

main(prog_name="lilsr")
