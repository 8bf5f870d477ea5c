"""Quadlet units (podman-systemd.unit(5)) that make systemd run the kube YAML on a host.

Quadlet turns ``/etc/containers/systemd/*.kube`` and ``*.network`` files into systemd services
at boot (Podman 4.4 and later; 4.5 for ``.network``). A ``.kube`` unit runs ``podman kube
play`` on its ``Yaml=`` file — a relative path is resolved against the unit's own directory —
and ``podman kube down`` when stopped; ``Restart=always`` brings the pods back if the service
exits, which is what keeps a Podman host converged without a scheduler.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Long enough for a first start that must also pull the image.
TIMEOUT_START_SEC = 900

_HEADER = (
    "# Rendered by Attonix; edit the blueprint, not this file.\n"
    "# Install into /etc/containers/systemd/ with the YAML beside it, then\n"
    "#   systemctl daemon-reload && systemctl start {service}\n"
)


def _section(name: str, entries: Sequence[tuple[str, str]]) -> str:
    lines = [f"[{name}]", *(f"{k}={v}" for k, v in entries)]
    return "\n".join(lines) + "\n"


def kube_unit(
    *,
    description: str,
    yaml_file: str,
    network: str,
    ports: Sequence[tuple[str, int, int]] = (),
) -> str:
    """A ``.kube`` unit running ``yaml_file`` on ``network`` and publishing ``ports``.

    ``ports`` are ``(host address or "", host port, container port)``.
    """
    service = yaml_file.rsplit(".", 1)[0] + ".service"
    kube: list[tuple[str, str]] = [("Yaml", yaml_file), ("Network", network)]
    for addr, host, target in ports:
        kube.append(("PublishPort", f"{addr}:{host}:{target}" if addr else f"{host}:{target}"))
    return "\n".join(
        [
            _HEADER.format(service=service),
            _section(
                "Unit",
                [
                    ("Description", description),
                    ("Wants", "network-online.target"),
                    ("After", "network-online.target"),
                ],
            ),
            _section("Kube", kube),
            _section(
                "Service",
                [("Restart", "always"), ("TimeoutStartSec", str(TIMEOUT_START_SEC))],
            ),
            _section("Install", [("WantedBy", "default.target multi-user.target")]),
        ]
    )


def network_unit(name: str, *, labels: dict[str, str]) -> str:
    """A ``.network`` unit creating the cluster's bridge network, labelled for the blueprint."""
    entries = [("NetworkName", name), ("Driver", "bridge")]
    entries += [("Label", f"{k}={v}") for k, v in labels.items()]
    return "\n".join(
        [
            "# Rendered by Attonix; edit the blueprint, not this file.\n",
            _section("Unit", [("Description", f"Attonix network {name}")]),
            _section("Network", entries),
        ]
    )
