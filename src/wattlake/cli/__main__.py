"""`python -m wattlake.cli`."""

from wattlake.cli import main

main()
