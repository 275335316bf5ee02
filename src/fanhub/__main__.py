"""`python -m fanhub` runs the command line, as the `fanhub` script does."""

from fanhub.cli import main

main()
