"""The databases section: PostgreSQL, MySQL, MongoDB (operators) and EDB BigAnimal."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from attonix.blueprint.model.common import DomainLevel, Hostname, MemoryQuantity, Model, Name


class DatabaseStorage(Model):
    """Where a database keeps its data."""

    size: MemoryQuantity = "20Gi"
    pool: Name | None = Field(None, description="A Ceph block pool; cluster default if unset.")


class Backup(Model):
    """Continuous backups into a Ceph object pool."""

    enabled: bool = True
    object_pool: Name | None = Field(None, description="A Ceph object pool (S3).")
    schedule: Annotated[str, StringConstraints(pattern=r"^(\S+\s+){4,5}\S+$")] = "0 0 2 * * *"
    retention_days: int = Field(30, ge=1, le=3650)


class ManagedDatabase(Model):
    """A database run by a provider (EDB BigAnimal), reached through an endpoint."""

    provider: Literal["biganimal"] = "biganimal"
    cloud_provider: Literal["aws", "azure", "gcp"] = "aws"
    region: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    endpoint: Hostname
    high_availability: bool = True


class Database(Model):
    """A database: PostgreSQL (primary), MySQL, EDB BigAnimal (managed) or MongoDB."""

    name: Name
    engine: Literal["postgresql", "mysql", "biganimal", "mongodb"]
    primary: bool = False
    version: Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)*$")]
    cluster: Name | None = Field(
        None, description="The Kubernetes cluster whose operator runs it (not for biganimal)."
    )
    replicas: int = Field(3, ge=1, le=15)
    synchronous_replicas: int = Field(0, ge=0, le=14)
    storage: DatabaseStorage = Field(default_factory=DatabaseStorage)
    encryption_at_rest: bool = True
    tls: bool = True
    backup: Backup = Field(default_factory=Backup)
    credentials_secret: Name
    database: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = "app"
    managed: ManagedDatabase | None = None
    spread: DomainLevel | None = Field(None, description="Overrides ha.failure_domain.")

    @model_validator(mode="after")
    def _engine_specific(self) -> Database:
        if self.engine == "biganimal":
            if self.managed is None:
                raise ValueError("a biganimal database needs 'managed' (region and endpoint)")
            if self.cluster is not None:
                raise ValueError("a biganimal database is managed: remove 'cluster'")
        else:
            if self.managed is not None:
                raise ValueError(f"'managed' is only for biganimal, not {self.engine}")
            if self.cluster is None:
                raise ValueError(f"a {self.engine} database needs 'cluster' (a kubernetes cluster)")
        if self.synchronous_replicas >= self.replicas:
            raise ValueError(
                f"synchronous_replicas ({self.synchronous_replicas}) must be fewer than "
                f"replicas ({self.replicas})"
            )
        return self
