"""Databases through their operators: PostgreSQL -> CloudNativePG ``Cluster`` (+ backups to the
Ceph object store), MySQL -> MySQL Operator ``InnoDBCluster``, MongoDB -> ``MongoDBCommunity``,
EDB BigAnimal -> an ExternalName Service per client namespace (no operator)."""

from __future__ import annotations

import hashlib
from typing import Any

from attonix.blueprint.model import Database, Service
from attonix.blueprint.naming import derived
from attonix.render import workloads as wl
from attonix.render.kubernetes import backups
from attonix.render.kubernetes._context import DATABASES_NAMESPACE, Ctx, obj
from attonix.render.kubernetes.certificates import database_tls_secret
from attonix.render.kubernetes.rook import bucket_class, object_store_endpoint
from attonix.render.workloads import TOPOLOGY_KEYS, consumer_secret

CNPG = "postgresql.cnpg.io/v1"
MYSQL = "mysql.oracle.com/v2"
MONGO = "mongodbcommunity.mongodb.com/v1"
OBC = "objectbucket.io/v1alpha1"


def _labels(ctx: Ctx, db: Database) -> dict[str, str]:
    return ctx.labels(db.name, component="database", version=db.version)


def _storage_class(ctx: Ctx, db: Database) -> str:
    return ctx.pool(db.storage.pool, kind="block", what=f"database {db.name}")[1].name


def exact_version(version: str) -> str:
    """A three-part server version (``8.4`` -> ``8.4.0``): these operators pull exact images."""
    parts = version.split(".")
    return ".".join(parts + ["0"] * (3 - len(parts)))


def _bucket_claim(ctx: Ctx, db: Database) -> dict[str, Any] | None:
    if not backups.backs_up(db):
        return None
    _, pool = ctx.pool(db.backup.object_pool, kind="object", what=f"backups of {db.name}")
    return obj(
        OBC,
        "ObjectBucketClaim",
        backups.backup_bucket(db),
        namespace=DATABASES_NAMESPACE,
        labels=_labels(ctx, db),
        spec={"bucketName": backups.backup_bucket(db), "storageClassName": bucket_class(pool)},
    )


def _role(*parts: str) -> str:
    """A PostgreSQL role name from ``parts`` (hyphens become ``_``), cut to 63 bytes with a
    stable hash."""
    name = "_".join(p.replace("-", "_") for p in parts)
    if len(name) <= 63:
        return name
    return f"{name[:54]}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def login_role(db: Database, service: Service) -> str:
    """The PostgreSQL login role of one consuming service (``<database>_<service>``)."""
    return _role(db.database, service.name)


def rw_group(db: Database) -> str:
    """The no-login group role that holds the application privileges (``<database>_rw``)."""
    return _role(db.database, "rw")


_NO_ATTRIBUTES = {
    "superuser": False,
    "createdb": False,
    "createrole": False,
    "replication": False,
    "bypassrls": False,
}


def managed_roles(ctx: Ctx, db: Database) -> list[dict[str, Any]]:
    """``spec.managed.roles``: the ``rw`` group, and per consuming service of this cluster a
    login role in it whose password is the Secret :func:`consumer_secret` (``<db>.<service>``,
    created by the deploy step, as the pod mounts it). No role may create roles or databases."""
    group = rw_group(db)
    roles: list[dict[str, Any]] = [
        {
            "name": group,
            "ensure": "present",
            "comment": f"attonix: application privileges on {db.database}",
            "login": False,
            "inherit": True,
            **_NO_ATTRIBUTES,
        }
    ]
    for svc in ctx.clients.get(db.name, []):
        roles.append(
            {
                "name": login_role(db, svc),
                "ensure": "present",
                "comment": f"attonix: login of service {svc.name}",
                "login": True,
                "inherit": True,
                "inRoles": [group],
                "passwordSecret": {"name": consumer_secret(db.name, svc.name)},
                **_NO_ATTRIBUTES,
            }
        )
    return roles


def privileges_sql(db: Database) -> list[str]:
    """The SQL run once at bootstrap (``postInitApplicationSQL``, in the database, as the
    superuser): the ``rw`` group and its privileges. The operator cannot declare grants, so
    they are given here: use of the schema, and read/write on the tables and sequences the
    owner creates (migrations run as the owner) through default privileges."""
    group, owner = rw_group(db), db.database
    return [
        f'CREATE ROLE "{group}" NOLOGIN',
        f'GRANT CONNECT ON DATABASE "{db.database}" TO "{group}"',
        f'GRANT USAGE ON SCHEMA public TO "{group}"',
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA public '
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{group}"',
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA public '
        f'GRANT USAGE, SELECT ON SEQUENCES TO "{group}"',
    ]


def postgresql(ctx: Ctx, db: Database) -> list[dict[str, Any]]:
    """A CloudNativePG Cluster (and its ScheduledBackup) for a PostgreSQL database.

    The owner role (from ``credentials_secret``) owns the database and runs migrations; each
    consuming service logs in with its own role (:func:`managed_roles`)."""
    spec: dict[str, Any] = {
        "instances": db.replicas,
        "imageName": f"ghcr.io/cloudnative-pg/postgresql:{db.version}",
        "primaryUpdateStrategy": "unsupervised",
        "enableSuperuserAccess": False,
        "postgresql": {"parameters": {"ssl_min_protocol_version": "TLSv1.3"}},
        "bootstrap": {
            "initdb": {
                "database": db.database,
                "owner": db.database,
                "secret": {"name": db.credentials_secret},
                "postInitApplicationSQL": privileges_sql(db),
            }
        },
        "managed": {"roles": managed_roles(ctx, db)},
        "storage": {"size": db.storage.size, "storageClass": _storage_class(ctx, db)},
        "affinity": {
            "enablePodAntiAffinity": True,
            "podAntiAffinityType": "required",
            "topologyKey": TOPOLOGY_KEYS[ctx.bp.spread_of(db)],
        },
    }
    if db.synchronous_replicas:
        spec["postgresql"]["synchronous"] = {
            "method": "any",
            "number": db.synchronous_replicas,
            "dataDurability": "required",
        }
    if db.tls:
        secret = database_tls_secret(db)
        spec["certificates"] = {"serverTLSSecret": secret, "serverCASecret": secret}
    docs: list[dict[str, Any]] = []
    claim = _bucket_claim(ctx, db)
    if claim is not None:
        _, pool = ctx.pool(db.backup.object_pool, kind="object", what=f"backups of {db.name}")
        creds = backups.backup_bucket(db)  # the Secret Rook creates for the claim
        spec["backup"] = {
            "retentionPolicy": f"{db.backup.retention_days}d",
            "barmanObjectStore": {
                "destinationPath": f"s3://{backups.backup_bucket(db)}/",
                "endpointURL": object_store_endpoint(pool),
                # The gateway's certificate comes from the internal CA.
                "endpointCA": {"name": backups.ca_secret(db), "key": "ca.crt"},
                "s3Credentials": {
                    "accessKeyId": {"name": creds, "key": "AWS_ACCESS_KEY_ID"},
                    "secretAccessKey": {"name": creds, "key": "AWS_SECRET_ACCESS_KEY"},
                },
                "wal": {"compression": "gzip", "encryption": "AES256"},
                "data": {"compression": "gzip", "encryption": "AES256"},
            },
        }
        docs += [claim, backups.backup_certificate(ctx, db)]
    labels = _labels(ctx, db)
    docs.insert(
        0, obj(CNPG, "Cluster", db.name, namespace=DATABASES_NAMESPACE, labels=labels, spec=spec)
    )
    if claim is not None:
        docs.append(
            obj(
                CNPG,
                "ScheduledBackup",
                db.name,
                namespace=DATABASES_NAMESPACE,
                labels=labels,
                spec={
                    "schedule": db.backup.schedule,
                    "backupOwnerReference": "self",
                    "cluster": {"name": db.name},
                    "method": "barmanObjectStore",
                    "immediate": True,
                },
            )
        )
    return docs


def mysql(ctx: Ctx, db: Database) -> list[dict[str, Any]]:
    """An InnoDBCluster (Group Replication + MySQL Router) for a MySQL database."""
    spec: dict[str, Any] = {
        # Holds rootUser/rootHost/rootPassword; created by the deploy driver from the vault.
        # The CRD declares no users: each service's own login (the Secret ``<db>.<service>``
        # its pods mount) is the one the database driver provisions (deploy/databases).
        "secretName": db.credentials_secret,
        "instances": db.replicas,
        "version": exact_version(db.version),
        "router": {"instances": 2},
        "tlsUseSelfSigned": False,
        "datadirVolumeClaimTemplate": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": _storage_class(ctx, db),
            "resources": {"requests": {"storage": db.storage.size}},
        },
        "podSpec": {
            "affinity": {
                "podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "topologyKey": TOPOLOGY_KEYS[ctx.bp.spread_of(db)],
                            "labelSelector": {"matchLabels": {"mysql.oracle.com/cluster": db.name}},
                        }
                    ]
                }
            }
        },
    }
    if db.tls:
        spec["tlsSecretName"] = database_tls_secret(db)
        spec["tlsCASecretName"] = database_tls_secret(db)
    docs = _dump_backup(ctx, db)
    docs.insert(
        0,
        obj(
            MYSQL,
            "InnoDBCluster",
            db.name,
            namespace=DATABASES_NAMESPACE,
            labels=_labels(ctx, db),
            spec=spec,
        ),
    )
    return docs


def mongodb(ctx: Ctx, db: Database) -> list[dict[str, Any]]:
    """A MongoDBCommunity replica set with SCRAM authentication and TLS."""
    security: dict[str, Any] = {"authentication": {"modes": ["SCRAM"]}}
    if db.tls:
        security["tls"] = {
            "enabled": True,
            "optional": False,
            "certificateKeySecretRef": {"name": database_tls_secret(db)},
            "caCertificateSecretRef": {"name": database_tls_secret(db)},
        }
    spec = {
        "members": db.replicas,
        "type": "ReplicaSet",
        "version": exact_version(db.version),
        "security": security,
        "users": [
            {
                "name": db.database,
                "db": "admin",
                "passwordSecretRef": {"name": db.credentials_secret, "key": "password"},
                "roles": [{"name": "readWrite", "db": db.database}],
                "scramCredentialsSecretName": derived(db.name, db.database.replace("_", "-")),
            },
            # Each consuming service its own user, with read/write on the one database only.
            *(
                {
                    "name": svc.name,
                    "db": "admin",
                    "passwordSecretRef": {
                        "name": consumer_secret(db.name, svc.name),
                        "key": "password",
                    },
                    "roles": [{"name": "readWrite", "db": db.database}],
                    "scramCredentialsSecretName": derived(db.name, svc.name),
                }
                for svc in ctx.clients.get(db.name, [])
            ),
        ],
        "additionalMongodConfig": {"storage.wiredTiger.engineConfig.journalCompressor": "zlib"},
        "statefulSet": {
            "spec": {
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data-volume"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "storageClassName": _storage_class(ctx, db),
                            "resources": {"requests": {"storage": db.storage.size}},
                        },
                    }
                ],
                "template": {
                    "spec": {
                        "affinity": {
                            "podAntiAffinity": {
                                "requiredDuringSchedulingIgnoredDuringExecution": [
                                    {
                                        "topologyKey": TOPOLOGY_KEYS[ctx.bp.spread_of(db)],
                                        "labelSelector": {"matchLabels": {"app": f"{db.name}-svc"}},
                                    }
                                ]
                            }
                        }
                    }
                },
            }
        },
    }
    return [
        obj(
            MONGO,
            "MongoDBCommunity",
            db.name,
            namespace=DATABASES_NAMESPACE,
            labels=_labels(ctx, db),
            spec=spec,
        ),
        *_dump_backup(ctx, db),
    ]


def _dump_backup(ctx: Ctx, db: Database) -> list[dict[str, Any]]:
    """The bucket claim, CA certificate and scheduled dump Job of a MySQL or MongoDB backup."""
    claim = _bucket_claim(ctx, db)
    if claim is None:
        return []
    return [
        claim,
        backups.backup_certificate(ctx, db),
        backups.dump_cronjob(ctx, db, version=exact_version(db.version)),
    ]


def biganimal(ctx: Ctx, db: Database) -> list[dict[str, Any]]:
    """ExternalName Services to the managed endpoint, in each namespace of its clients."""
    assert db.managed is not None
    namespaces = sorted({wl.namespace_of(ctx.bp, w) for w in ctx.clients.get(db.name, [])})
    return [
        obj(
            "v1",
            "Service",
            db.name,
            namespace=ns,
            labels=_labels(ctx, db),
            annotations={"attonix.io/credentials-secret": db.credentials_secret},
            spec={
                "type": "ExternalName",
                "externalName": db.managed.endpoint,
                "ports": [{"name": "postgresql", "port": 5432, "protocol": "TCP"}],
            },
        )
        for ns in namespaces
    ]


def databases(ctx: Ctx) -> list[dict[str, Any]]:
    """Every database resource rendered into this cluster."""
    out: list[dict[str, Any]] = []
    builders = {"postgresql": postgresql, "mysql": mysql, "mongodb": mongodb}
    for db in ctx.databases:
        out.extend(builders[db.engine](ctx, db))
    for db in ctx.bp.databases:
        if db.engine == "biganimal":
            out.extend(biganimal(ctx, db))
    return out
