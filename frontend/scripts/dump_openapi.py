"""Print the Central Server's OpenAPI document (stable key order) for `npm run gen:api`."""

from __future__ import annotations

import json
import sys

from attonix.server.app import openapi_document


def main() -> None:
    """Write the document to stdout."""
    sys.stdout.write(json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
