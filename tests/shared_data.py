"""Where tests find the shared test data (operator CRDs, JSON schemas): one setting.

``ATTONIX_SHARED_DIR`` names the directory; by default it is ``shared`` beside the checkout.
A test that needs it calls :func:`shared`, which skips the test with the reason when the
directory (or the file asked for) is absent, so a clone elsewhere runs everything else.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("ATTONIX_SHARED_DIR") or ROOT.parent / "shared")


def shared(*parts: str) -> Path:
    """``SHARED_DIR/parts...``, or skip the calling test when it is absent."""
    path = SHARED_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"shared test data {path} is absent; set ATTONIX_SHARED_DIR to the directory "
            "holding crds/ and schemas/"
        )
    return path
