"""`python -m attonix`."""

from attonix._start import main

main()
