"""`python -m seqgen` runs the same command-line app as the `seqgen` script."""

from seqgen.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
