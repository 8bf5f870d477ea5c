"""The configuration section: Chef Infra roles that converge the hosts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from attonix.blueprint.model.common import HostRole, Model, Name, Url


def _all_hosts() -> list[HostRole | Literal["all"]]:
    return ["all"]


class ChefRole(Model):
    """A Chef role applied to every host that has one of ``hosts_with``."""

    name: Name
    run_list: list[Annotated[str, StringConstraints(pattern=r"^(recipe|role)\[[a-z0-9_:-]+\]$")]]
    hosts_with: list[HostRole | Literal["all"]] = Field(default_factory=_all_hosts)


class Chef(Model):
    """Chef Infra: the server, organisation and roles that converge the hosts."""

    server_url: Url
    organization: Name
    policy_group: Name = "prod"
    client_version: Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)*$")] = "18"
    interval_minutes: int = Field(30, ge=5, le=1440)
    validation_secret: Name
    roles: list[ChefRole] = Field(default_factory=list)


class Configuration(Model):
    """Configuration management."""

    chef: Chef | None = None
