"""Options every command spells the same way, with kubectl/helm habits.

- a blueprint is FILE or ``-f FILE``; ``-`` reads it from stdin;
- ``-o`` picks the output format of a report (``text``, ``json``, ``yaml``, ...);
- a rendered tree goes to ``--output-dir``;
- targets accept short aliases (``k8s``).

The lists of targets are repeated here, as names only, so that building the command line
imports neither the renderers nor the drivers; a unit test keeps them equal to the registries.
"""

from __future__ import annotations

from typing import Annotated

import typer

from attonix.cli._common import usage

#: The render registry's targets (attonix.render.registry.TARGETS), in its order.
RENDER_TARGETS: tuple[str, ...] = (
    "kubernetes",
    "swarm",
    "podman",
    "cloud-init",
    "nftables",
    "chef",
    "cicd",
    "openstack",
    "vsphere",
    "diagram",
)
#: The deploy registry's targets (attonix.deploy.DRIVERS).
DEPLOY_TARGETS: tuple[str, ...] = ("swarm", "podman", "kubernetes", "databases", "ceph", "vsphere")
#: Short names people type: alias -> target.
ALIASES: dict[str, str] = {
    "k8s": "kubernetes",
    "kube": "kubernetes",
    "cloudinit": "cloud-init",
    "nft": "nftables",
    "heat": "openstack",
    "ci": "cicd",
    "db": "databases",
}


def _names(targets: tuple[str, ...]) -> str:
    aliases: dict[str, list[str]] = {}
    for alias, target in ALIASES.items():
        aliases.setdefault(target, []).append(alias)
    return ", ".join(f"{t} ({', '.join(aliases[t])})" if t in aliases else t for t in targets)


def target_name(value: str, *, allowed: tuple[str, ...]) -> str:
    """The canonical target for ``value`` (a name or an alias); a usage error otherwise."""
    name = ALIASES.get(value.strip().lower(), value.strip().lower())
    if name not in allowed:
        usage(f"unknown target {value!r}", hint=f"Use one of: {_names(allowed)}.")
    return name


FileArg = Annotated[
    str | None,
    typer.Argument(
        metavar="FILE",
        show_default=False,
        help="The blueprint YAML file; '-' reads it from stdin.",
    ),
]
FileOpt = Annotated[
    str | None,
    typer.Option("--file", "-f", metavar="FILE", help="The blueprint, as with FILE ('-': stdin)."),
]
LegacyFormat = Annotated[
    str | None, typer.Option("--format", hidden=True, help="Deprecated: use -o.")
]
RenderTarget = Annotated[
    str | None,
    typer.Option(
        "--target", "-t", metavar="TARGET", help=f"What to render: {_names(RENDER_TARGETS)}."
    ),
]
DeployTarget = Annotated[
    str | None,
    typer.Option("--target", "-t", metavar="TARGET", help=f"One of: {_names(DEPLOY_TARGETS)}."),
]


def output_option(choices: tuple[str, ...], default: str) -> object:
    """``-o FORMAT`` with the command's own formats in its help."""
    return typer.Option(
        "--output",
        "-o",
        metavar="FORMAT",
        show_default=False,
        help=f"Output format: {'|'.join(choices)} (default {default}).",
    )
