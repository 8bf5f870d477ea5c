"""Labels every target carries, so that live resources can be traced to their blueprint and
pruned or destroyed by label — never by guessing from names."""

from __future__ import annotations

from attonix.blueprint.model import Blueprint
from attonix.blueprint.naming import fit, label_value

MANAGED_BY = "app.kubernetes.io/managed-by"
NAME = "app.kubernetes.io/name"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
PART_OF = "app.kubernetes.io/part-of"
VERSION = "app.kubernetes.io/version"
BLUEPRINT = "attonix.io/blueprint"
ENVIRONMENT = "attonix.io/environment"
ZONE = "attonix.io/zone"

MANAGER = "attonix"


def blueprint_labels(bp: Blueprint) -> dict[str, str]:
    """Labels identifying everything rendered from ``bp`` (the pruning selector)."""
    return {
        MANAGED_BY: MANAGER,
        BLUEPRINT: bp.metadata.name,
        ENVIRONMENT: bp.metadata.environment,
    }


def selector(bp: Blueprint) -> str:
    """``key=value,...`` selector matching everything rendered from ``bp``."""
    return ",".join(f"{k}={v}" for k, v in blueprint_labels(bp).items())


def component_labels(
    bp: Blueprint, name: str, *, component: str, version: str = ""
) -> dict[str, str]:
    """Standard labels for one component (a service, a database, a pool...)."""
    labels = {
        NAME: label_value(name),
        INSTANCE: label_value(fit(f"{bp.metadata.name}-{name}")),
        COMPONENT: component,
        PART_OF: bp.metadata.name,
        **blueprint_labels(bp),
    }
    if version:
        labels[VERSION] = label_value(version)
    return labels


def image_tag(image: str) -> str:
    """The tag (or digest) of an image reference, '' when it has none."""
    if "@" in image:
        return image.rsplit("@", 1)[1].replace("sha256:", "")
    last = image.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else ""
