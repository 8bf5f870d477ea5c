"""The generative properties in CI: a fixed seed and a bounded count of generated blueprints.

Every blueprint ``attonix validate`` accepts renders for every target; every output passes its
real validator (Kubernetes schemas and CRDs, the API server's name rules, compose-spec,
cloud-init, nft, ruby, GitHub/GitLab schemas, actionlint, Zuul); ``ha`` verdicts equal a brute
force over the placements the rendered rules allow; rendering is deterministic. The long run
is ``tools/generate_blueprints.py`` (README, "Generated blueprints").
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .checks import SHARED
from .names import dns1035_label, label_value, name_problems, port_name, qualified_name
from .runner import run

pytestmark = pytest.mark.integration

#: Bounded for CI (about two minutes on two cores); ATTONIX_GENERATED_COUNT raises it.
COUNT = int(os.environ.get("ATTONIX_GENERATED_COUNT", "40"))
SEED = 20261129
VALIDATORS = (
    *(f"rendered {t}" for t in ("kubernetes", "swarm", "podman", "cloud-init", "nftables")),
    *(f"rendered {t}" for t in ("chef", "cicd", "openstack", "vsphere", "diagram")),
    "compose-spec",
    "docker stack config",
    "github",
    "gitlab",
    "cloud-init",
    "nft",
    "ruby",
    "actionlint",
    "zuul",
)
#: Further batches drawn, each with its own seed, while some validator has seen no file yet.
#: Hypothesis replays a seed exactly only in the same process state: with the whole suite
#: imported the same seed draws other blueprints (seen: the first 40 held no GitHub workflow).
EXTRA_BATCHES = 2
#: Longest service and database names drawn (63: every limit the model allows).
NAME_LIMIT = int(os.environ.get("ATTONIX_GENERATED_NAME_LIMIT", "63"))


def test_generated_blueprints_have_every_property(tmp_path: Path) -> None:
    if not (SHARED / "crds").is_dir():
        pytest.skip(f"operator CRDs not found in {SHARED} (set ATTONIX_SHARED_DIR)")
    validated: dict[str, int] = {}
    for batch in range(1 + EXTRA_BATCHES):
        work = tmp_path / f"batch{batch}"
        report = run(COUNT, seed_value=SEED + batch * COUNT, workdir=work, name_limit=NAME_LIMIT)
        shown = "\n".join(f"blueprint {n}: {p}" for n, p in report.problems[:30])
        assert report.accepted >= COUNT * 0.9, report.summary()
        assert not report.problems, f"{report.summary()}\n{shown}\nkept in {work / 'failed'}"
        for key, seen in report.validated.items():
            validated[key] = validated.get(key, 0) + seen
        if all(validated.get(k) for k in VALIDATORS):
            break
    # Every target produced files and every validator saw some: the draws cover the model.
    unchecked = [k for k in VALIDATORS if not validated.get(k)]
    assert not unchecked, (unchecked, validated)


def test_name_rules_are_the_api_servers() -> None:
    assert label_value("a" * 63) is None and label_value("a" * 64) is not None
    assert label_value("") is None and label_value("-a") is not None
    assert qualified_name("app.kubernetes.io/name") is None
    assert qualified_name("Bad_Prefix/x") is not None
    assert dns1035_label("9lives") is not None and dns1035_label("lives-9") is None
    assert port_name("http-admin") is None and port_name("http-administration") is not None
    assert port_name("8080") is not None
    long_sts = {"kind": "StatefulSet", "metadata": {"name": "s" * 60, "namespace": "a"}}
    assert any("controller-revision-hash" in why for _, why in name_problems([long_sts]))
    service = {
        "kind": "Service",
        "metadata": {"name": "0svc", "namespace": "a", "labels": {"x": "y" * 64}},
    }
    assert len(name_problems([service])) == 2
