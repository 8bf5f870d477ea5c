"""Validate Zuul configuration files with Zuul's own voluptuous schemas (zuul.configloader).

Run with the interpreter of the Zuul virtualenv: ``python zuul_validate.py FILE...``. Prints a
JSON list of problems (file, stanza kind, name, error); an empty list means every stanza of
every file passed. Only schemas are checked; Zuul checks references between stanzas when it
loads a tenant, which needs a running scheduler.
"""

from __future__ import annotations

import json
import sys
import types

import voluptuous as vs
from zuul import configloader
from zuul.driver.git import GitDriver
from zuul.driver.github import GithubDriver
from zuul.driver.gitlab import GitlabDriver
from zuul.driver.timer import TimerDriver
from zuul.lib import yamlutil

# "opendev": the git connection the tenant reads zuul/zuul-jobs from.
CONNECTIONS = {
    "github": GithubDriver(),
    "gitlab": GitlabDriver(),
    "timer": TimerDriver(),
    "opendev": GitDriver(),
}


class _Connections:
    def __init__(self) -> None:
        self.connections = {n: types.SimpleNamespace(driver=d) for n, d in CONNECTIONS.items()}

    def getSource(self, name: str) -> object:  # noqa: N802 - Zuul's interface
        if name not in ("github", "gitlab", "opendev"):
            raise vs.Invalid(f"no source connection named {name!r}")
        return object()


def schemas() -> dict[str, vs.Schema]:
    pcontext = types.SimpleNamespace(connections=_Connections())
    tenant_parser = object.__new__(configloader.TenantParser)
    tenant_parser.connections = _Connections()
    return {
        "pipeline": configloader.PipelineParser(pcontext).getSchema(),
        "job": configloader.JobParser.schema,
        "project": configloader.ProjectParser(pcontext).getSchema(),
        "nodeset": configloader.NodeSetParser(pcontext).getSchema(False),
        "semaphore": configloader.SemaphoreParser(pcontext).getSchema(),
        "tenant": tenant_parser.getSchema(),
        "secret": configloader.SecretParser(pcontext).getSchema(),
    }


def main(paths: list[str]) -> int:
    table = schemas()
    problems: list[dict[str, str]] = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            # Zuul's own loader: it knows the !encrypted/pkcs1-oaep tag of secret stanzas.
            docs = yamlutil.encrypted_load(fh.read())
        for item in docs:
            ((kind, body),) = item.items()
            name = str(body.get("name", ""))
            if kind not in table:
                problems.append({"file": path, "kind": kind, "name": name, "error": "unknown"})
                continue
            try:
                table[kind](body)
            except vs.Invalid as exc:
                problems.append({"file": path, "kind": kind, "name": name, "error": str(exc)})
    print(json.dumps(problems))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
