"""Validate user-data files with cloud-init's own schema, in one process for many files.

Run with the interpreter cloud-init is installed for (``/usr/bin/python3 _cloudinit_validate.py
FILE...``); prints a JSON list of ``{"file", "error"}``, empty when every file is valid. It is
what ``cloud-init schema --config-file`` does per file, without a process start for each.
"""

from __future__ import annotations

import json
import sys

from cloudinit.config.schema import SchemaValidationError, get_schema, validate_cloudconfig_file


def main(paths: list[str]) -> int:
    schema = get_schema()
    problems: list[dict[str, str]] = []
    for path in paths:
        try:
            validate_cloudconfig_file(path, schema)
        except SchemaValidationError as exc:
            problems.append({"file": path, "error": str(exc)})
    print(json.dumps(problems))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
