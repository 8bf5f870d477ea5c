"""Console figures: bundle size (gzip, as `attonix console` serves it) and the overview page's
time to interactive in headless Chromium, against a real server holding the example blueprint.

    .venv/bin/python bench/bench_console.py [--runs 5] [--services 1000]

With ``--services N`` the server holds a generated blueprint of N services (bench/generate.py,
50 databases, 200 hosts) instead of the example, to show the overview at data-center scale.

Needs the built console and Chromium (scripts/setup.d/40-console.sh). Prints JSON.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRONTEND = ROOT / "frontend"
ATTONIX = str(Path(sys.executable).with_name("attonix"))


def bundle() -> dict[str, int]:
    """Raw and gzip-9 bytes of the JS and CSS the browser downloads."""
    out = {"js": 0, "js_gzip": 0, "css": 0, "css_gzip": 0}
    for f in (FRONTEND / "dist" / "assets").iterdir():
        kind = f.suffix.lstrip(".")
        if kind in ("js", "css"):
            data = f.read_bytes()
            out[kind] += len(data)
            out[f"{kind}_gzip"] += len(gzip.compress(data, compresslevel=9, mtime=0))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(url: str) -> None:
    for _ in range(240):
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.25)
    raise SystemExit(f"{url} did not come up")


def tti(runs: int, services: int | None) -> dict[str, object]:
    """Sign in (password, forced change, MFA enrolment) then load the overview repeatedly."""
    api_port, console_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        blueprint = "examples/attonixcorp.yaml"
        if services is not None:
            sys.path.insert(0, str(ROOT / "bench"))
            from generate import generate_blueprint  # noqa: PLC0415

            generated = Path(tmp) / "blueprint.yaml"
            generated.write_text(generate_blueprint(services, databases=50, hosts=200))
            blueprint = str(generated)
        env = {
            **os.environ,
            "ATTONIX_DATA_DIR": tmp,
            "ATTONIX_CORS_ORIGINS": json.dumps([f"http://127.0.0.1:{console_port}"]),
            "ATTONIX_RUN_WORKERS": "false",
            "NO_COLOR": "1",
        }
        up_log = Path(tmp) / "up.log"
        with up_log.open("w") as log:
            server = subprocess.Popen(
                [ATTONIX, "up", blueprint, "--port", str(api_port)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        console = subprocess.Popen(
            [
                ATTONIX,
                "console",
                "--port",
                str(console_port),
                "--quiet",
                "--api-url",
                f"http://127.0.0.1:{api_port}",
            ],
            cwd=ROOT,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait(f"http://127.0.0.1:{api_port}/readyz")
            wait(f"http://127.0.0.1:{console_port}/config.json")
            found = re.search(r"one-time password: (\S+)", up_log.read_text())
            if not found:
                raise SystemExit(f"no administrator password in:\n{up_log.read_text()}")
            cfg = {
                "consoleUrl": f"http://127.0.0.1:{console_port}",
                "apiUrl": f"http://127.0.0.1:{api_port}",
                "chromium": "/usr/bin/chromium",
                "screenshots": str(Path(tmp) / "shots"),
                "environment": "prod",
                "runs": runs,
                "accounts": {
                    "admin": {
                        "username": "admin",
                        "password": found.group(1),
                        "newPassword": "Bench-quartz-lantern-77",
                    }
                },
            }
            path = Path(tmp) / "bench.json"
            path.write_text(json.dumps(cfg))
            proc = subprocess.run(
                ["node", "e2e/run.mjs", str(path), "bench"],
                cwd=FRONTEND,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            if not result["ok"]:
                raise SystemExit(result["error"])
            facts = result["facts"]
            return {
                "components": facts["components"],
                "overview_tti_ms_warm_cache_median": round(statistics.median(facts["warm"])),
                "overview_tti_ms_cold_cache_median": round(statistics.median(facts["cold"])),
                "runs": runs,
            }
        finally:
            for p in (console, server):
                p.terminate()
                p.wait(15)


def main() -> None:
    """Print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--services", type=int, default=None, help="a generated blueprint")
    args = parser.parse_args()
    figures = {"bundle_bytes": bundle(), **tti(args.runs, args.services)}
    print(json.dumps({**figures, "load_average": [round(x, 2) for x in os.getloadavg()]}, indent=2))


if __name__ == "__main__":
    main()
