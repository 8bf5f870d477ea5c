"""`python -m attonix`."""

from attonix.cli import main

main()
