"""The Kubernetes driver against a real API server, only when ``ATTONIX_TEST_KUBECONFIG``
names a kubeconfig for a disposable cluster (no API server can run on these machines).

The cluster needs cert-manager's CRDs (the rendered tree holds Certificates and a
ClusterIssuer) and the local test image ``localhost/attonix-test-httpd:1`` on its nodes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from attonix.blueprint import load_file
from attonix.deploy import EnvSecretSource
from attonix.deploy.kubernetes import KubernetesDriver

pytestmark = pytest.mark.integration

KUBECONFIG = os.environ.get("ATTONIX_TEST_KUBECONFIG", "")
FIXTURE = Path(__file__).parents[2] / "fixtures" / "deploy" / "shop-kubernetes.yaml"
SECRETS = {
    "ATTONIX_SECRET_API_TOKEN_TOKEN": "tok-live-0c5e-never-shown",
    "ATTONIX_SECRET_DB_CREDENTIALS_USERNAME": "shop",
    "ATTONIX_SECRET_DB_CREDENTIALS_PASSWORD": "pw-live-9b1d-never-shown",
}


@pytest.mark.skipif(
    not KUBECONFIG, reason="ATTONIX_TEST_KUBECONFIG is not set (no Kubernetes API server)"
)
def test_full_cycle_on_a_live_cluster(tmp_path: Path) -> None:
    bp = load_file(FIXTURE).blueprint
    driver = KubernetesDriver(
        bp,
        cluster="kube-test",
        secrets=EnvSecretSource(bp.security.secrets, environ=SECRETS),
        kubeconfig=KUBECONFIG,
        state=tmp_path,
    )
    driver.destroy()
    try:
        plan = driver.plan()
        assert plan.of("create", "Deployment")
        result = driver.apply(plan, timeout=300)
        assert result.ok, result.to_dict()
        assert all(s.converged for s in driver.status()), [s.to_dict() for s in driver.status()]
        again = driver.plan()
        assert again.is_empty, [c.to_dict() for c in again.pending]
    finally:
        assert driver.destroy().ok
