"""Time an apply of the deploy test blueprint's swarm tier on the local swarm, then a no-op
re-apply (plan only, nothing to do), then destroy.

    .venv/bin/python bench/bench_deploy.py [--rounds N]

Needs the engines and images from `scripts/setup.sh all`. Secret values are generated here.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from attonix.blueprint import load_file
from attonix.deploy import EnvSecretSource
from attonix.deploy.swarm import SwarmDriver

FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "deploy" / "shop.yaml"
SECRETS = {
    "ATTONIX_SECRET_API_TOKEN_TOKEN": "bench-token",
    "ATTONIX_SECRET_DB_CREDENTIALS_USERNAME": "bench",
    "ATTONIX_SECRET_DB_CREDENTIALS_PASSWORD": "bench-password",
}


def main() -> None:
    """Run the rounds and print median figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bp = load_file(FIXTURE).blueprint
    state = Path(tempfile.mkdtemp(prefix="attonix-bench-"))
    drv = SwarmDriver(
        bp,
        cluster="swarm-test",
        secrets=EnvSecretSource(bp.security.secrets, environ=SECRETS),
        state=state,
    )
    drv.destroy()
    applies, noops, plans, destroys = [], [], [], []
    for _ in range(args.rounds):
        t = time.perf_counter()
        result = drv.apply(drv.plan(), timeout=180)
        applies.append(time.perf_counter() - t)
        assert result.ok, result.to_dict()
        t = time.perf_counter()
        plan = drv.plan()
        if not plan.is_empty:
            raise SystemExit(f"re-apply would change: {[c.key for c in plan.pending]}")
        noops.append(time.perf_counter() - t)
        t = time.perf_counter()
        drv.status()
        plans.append(time.perf_counter() - t)
        t = time.perf_counter()
        drv.destroy()
        destroys.append(time.perf_counter() - t)
    med = statistics.median
    print(f"rounds: {args.rounds}; 3 services (4 replicas), 2 networks, 3 secrets")
    print(f"apply (plan + create + wait healthy): median {med(applies):.2f} s")
    print(f"no-op re-apply (plan, nothing to do): median {med(noops):.3f} s")
    print(f"status:                               median {med(plans):.3f} s")
    print(f"destroy:                              median {med(destroys):.2f} s")


if __name__ == "__main__":
    main()
