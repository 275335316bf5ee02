"""`python -m fanhub` runs the command line, as the `fanhub` script does."""

from fanhub.cli import main

# Guarded: helper processes started with multiprocessing's "spawn" import the parent's main module.
if __name__ == "__main__":
    main()
