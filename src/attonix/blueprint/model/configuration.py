"""The configuration section: Chef Infra roles that converge the hosts."""

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from attonix.blueprint.model.common import HostRole, Model, Name, Url


def _all_hosts() -> list[HostRole | Literal["all"]]:
    return ["all"]


class ChefRole(Model):
    """A Chef role applied to every host that has one of ``hosts_with``."""

    name: Name = Field(description="The Chef role's name (a DNS label).", examples=["base"])
    run_list: list[
        Annotated[str, StringConstraints(pattern=r"^(recipe|role)\[[a-z0-9_:-]+\]$")]
    ] = Field(
        description="Recipes and roles to converge, in order, as 'recipe[name]' or 'role[name]'.",
        examples=[["recipe[attonix_base]", "recipe[chrony]"]],
    )
    hosts_with: list[HostRole | Literal["all"]] = Field(
        default_factory=_all_hosts,
        description="Host roles (see hosts[].roles) whose hosts get this Chef role, or 'all'.",
        examples=[["database"]],
    )


class Chef(Model):
    """Chef Infra: the server, organisation and roles that converge the hosts."""

    server_url: Url = Field(
        description="The Chef Infra Server's URL, organisation path included.",
        examples=["https://chef.attonixcorp.example/organizations/attonixcorp"],
    )
    organization: Name = Field(description="The Chef organisation (a DNS label).")
    policy_group: Name = Field(
        "prod", description="The Policyfile policy group the hosts follow (e.g. 'prod')."
    )
    client_version: Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)*$")] = Field(
        "18", description="The Chef Infra Client version cloud-init installs ('18' or '18.4.2')."
    )
    interval_minutes: int = Field(
        30, ge=5, le=1440, description="Minutes between chef-client runs (5 to 1440)."
    )
    validation_secret: Name = Field(
        description="The secret (declared under security.secrets) holding the organisation's "
        "validation key; only its name is rendered.",
        examples=["chef-validator"],
    )
    roles: list[ChefRole] = Field(
        default_factory=list, description="Chef roles and the hosts they apply to."
    )


class Configuration(Model):
    """Configuration management."""

    chef: Chef | None = Field(
        None, description="Chef Infra; without it the hosts are configured by cloud-init only."
    )
