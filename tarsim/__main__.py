"""``python -m tarsim``: the same command line as the ``tarsim`` script."""

from tarsim.cli import main

main()
