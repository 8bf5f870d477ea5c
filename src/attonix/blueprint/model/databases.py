"""The databases section: PostgreSQL, MySQL, MongoDB (operators) and EDB BigAnimal."""

from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from attonix.blueprint.model.common import DomainLevel, Hostname, MemoryQuantity, Model, Name


class DatabaseStorage(Model):
    """Where a database keeps its data."""

    size: MemoryQuantity = Field(
        "20Gi",
        description="Volume size per replica, a quantity in Ki, Mi, Gi or Ti (e.g. '100Gi').",
        examples=["100Gi"],
    )
    pool: Name | None = Field(
        None,
        description="A Ceph block pool (storage.ceph[].pools[]); the cluster's default "
        "StorageClass if unset.",
    )


class Backup(Model):
    """Continuous backups into a Ceph object pool."""

    enabled: bool = Field(True, description="Take backups; check reports a database without.")
    object_pool: Name | None = Field(
        None, description="A Ceph object pool (S3) that receives the backups."
    )
    schedule: Annotated[str, StringConstraints(pattern=r"^(\S+\s+){4,5}\S+$")] = Field(
        "0 0 2 * * *",
        description="When to take a base backup: a cron expression of five fields, or six "
        "with seconds first (the default is 02:00 every day).",
        examples=["0 30 1 * * *"],
    )
    retention_days: int = Field(30, ge=1, le=3650, description="Days backups are kept (1 to 3650).")


class ManagedDatabase(Model):
    """A database run by a provider (EDB BigAnimal), reached through an endpoint."""

    provider: Literal["biganimal"] = Field(
        "biganimal", description="Who runs it; EDB BigAnimal is the only provider."
    )
    cloud_provider: Literal["aws", "azure", "gcp"] = Field(
        "aws", description="The cloud BigAnimal runs it in: aws, azure or gcp."
    )
    region: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The cloud region.", examples=["eu-west-1"]
    )
    endpoint: Hostname = Field(
        description="The host name clients connect to.",
        examples=["p-abc123.biganimal.example"],
    )
    high_availability: bool = Field(
        True, description="BigAnimal's high-availability (primary and standbys) cluster type."
    )


class Database(Model):
    """A database: PostgreSQL (primary), MySQL, EDB BigAnimal (managed) or MongoDB."""

    name: Name = Field(
        description="The database's name (a DNS label, unique among databases); services list "
        "it under 'databases'.",
        examples=["orders"],
    )
    engine: Literal["postgresql", "mysql", "biganimal", "mongodb"] = Field(
        description="postgresql (CloudNativePG), mysql, mongodb, or biganimal (managed by EDB)."
    )
    primary: bool = Field(
        False,
        description="The data center's primary database; check expects it to replicate "
        "synchronously.",
    )
    version: Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)*$")] = Field(
        description="The engine's version, digits and dots.", examples=["16", "8.0"]
    )
    cluster: Name | None = Field(
        None,
        description="The cluster that runs it (not for biganimal): on kubernetes its operator "
        "runs the instances; on swarm or podman it is one stateful container whose data volume "
        "stays on one node.",
    )
    host: Name | None = Field(
        None,
        description="Swarm or podman only: the node that keeps its data volume and runs it "
        "(defaults to the cluster's first node).",
    )
    replicas: int = Field(3, ge=1, le=15, description="Instances, the primary included (1 to 15).")
    synchronous_replicas: int = Field(
        0,
        ge=0,
        le=14,
        description="Standbys that confirm each commit before it returns; fewer than replicas.",
    )
    storage: DatabaseStorage = Field(
        default_factory=DatabaseStorage, description="Volume size and Ceph pool."
    )
    encryption_at_rest: bool = Field(True, description="Encrypt the data on disk.")
    tls: bool = Field(True, description="Clients and replicas connect over TLS only.")
    backup: Backup = Field(default_factory=Backup, description="Continuous backups.")
    credentials_secret: Name = Field(
        description="The secret (declared under security.secrets) holding the database "
        "credentials.",
        examples=["orders-db-credentials"],
    )
    database: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = Field(
        "app",
        description="The database (schema) created inside the server, and its owner's name.",
    )
    managed: ManagedDatabase | None = Field(
        None, description="Where the provider runs it; required for biganimal, refused otherwise."
    )
    spread: DomainLevel | None = Field(None, description="Overrides ha.failure_domain.")

    @model_validator(mode="after")
    def _engine_specific(self) -> Self:
        if self.engine == "biganimal":
            if self.managed is None:
                raise ValueError("a biganimal database needs 'managed' (region and endpoint)")
            if self.cluster is not None:
                raise ValueError("a biganimal database is managed: remove 'cluster'")
            if self.host is not None:
                raise ValueError("a biganimal database is managed: remove 'host'")
        else:
            if self.managed is not None:
                raise ValueError(f"'managed' is only for biganimal, not {self.engine}")
            if self.cluster is None:
                raise ValueError(
                    f"a {self.engine} database needs 'cluster' (a kubernetes, swarm or podman "
                    "cluster)"
                )
        if self.synchronous_replicas >= self.replicas:
            raise ValueError(
                f"synchronous_replicas ({self.synchronous_replicas}) must be fewer than "
                f"replicas ({self.replicas})"
            )
        return self
