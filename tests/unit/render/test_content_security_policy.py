"""A frontend's Content-Security-Policy: the policy rule (ATX051) says it is sent exactly when
a rendered edge sends it (an haproxy HTTP-mode frontend, or the Kubernetes Ingress)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from attonix.blueprint.loader import load_file
from attonix.blueprint.model import Blueprint, Frontend
from attonix.cli._console import security_headers
from attonix.policy.rules.security import csp_edges
from attonix.render import render
from attonix.render.chef import haproxy

D = dict[str, Any]
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "attonixcorp.yaml"


def _no_ingress_headers(d: D) -> None:
    d["orchestration"]["clusters"][0]["ingress_custom_headers"] = False


def _plain_http_too(d: D) -> None:
    _no_ingress_headers(d)
    d["ha"]["load_balancers"][0]["frontends"].append(
        {"name": "console-http", "port": 80, "protocol": "http", "backend": "attonix-console"}
    )


def _status_page_as_frontend(d: D) -> None:
    backends = d["services"]["backend"]
    page = next(w for w in backends if w["name"] == "status-page")
    backends.remove(page)
    d["services"]["frontend"].append(page)


def _sent_by_haproxy(bp: Blueprint, name: str) -> bool:
    cfg = haproxy.haproxy_config(bp, haproxy.haproxy_lbs(bp))
    sections = cfg.split("\nfrontend ")[1:]
    return any(
        f"default_backend {lb.name}-{fe.name}\n" in s and "Content-Security-Policy" in s
        for lb in haproxy.haproxy_lbs(bp)
        for fe in lb.frontends
        if fe.backend == name
        for s in sections
    )


def _sent_by_ingress(bp: Blueprint, name: str) -> bool:
    docs = [d for a in render(bp, "kubernetes", single_file=True) for d in a.content]
    ing = [d for d in docs if d["kind"] == "Ingress" and d["metadata"]["name"] == name]
    annotations = ing[0]["metadata"].get("annotations", {}) if ing else {}
    return "nginx.ingress.kubernetes.io/custom-headers" in annotations


@pytest.mark.parametrize(
    ("edit", "sent"),
    [
        (lambda d: None, {"attonix-console": "ingress"}),
        (_no_ingress_headers, {"attonix-console": ""}),
        (_plain_http_too, {"attonix-console": "haproxy"}),
        (_status_page_as_frontend, {"attonix-console": "ingress", "status-page": "haproxy"}),
    ],
    ids=["ingress", "nothing", "haproxy-http", "haproxy-tls"],
)
def test_the_rule_and_the_renderers_agree(edit: Callable[[D], None], sent: dict[str, str]) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    edit(data)
    bp = Blueprint.model_validate(data)
    for w in bp.services.frontend:
        by = {"haproxy": _sent_by_haproxy(bp, w.name), "ingress": _sent_by_ingress(bp, w.name)}
        assert {k for k, v in by.items() if v} == ({sent[w.name]} - {""}), w.name
        assert bool(csp_edges(bp, w)) == any(by.values()), w.name


def test_the_examples_console_declares_the_consoles_own_policy() -> None:
    # The edge replaces the header the console server sends: the declared policy must be as
    # strict as the console's own, or the Ingress would weaken it.
    console = load_file(EXAMPLE).blueprint.workloads_by_name["attonix-console"]
    assert isinstance(console, Frontend)
    own = security_headers("https://api.attonixcorp.com")["Content-Security-Policy"]
    assert console.content_security_policy == own
