"""Database backups into the Ceph object store, trusted through the internal CA.

The object gateway's certificate is issued by the blueprint's internal CA, which no client
trusts by default. Every backup therefore gets a cert-manager Certificate in the databases
namespace whose Secret carries the CA as ``ca.crt``: CloudNativePG reads it through
``barmanObjectStore.endpointCA``; MySQL and MongoDB backups run as a scheduled dump Job (the
MySQL Operator's S3 storage has no CA setting, and the MongoDB community operator has no
backups at all) whose upload step passes it to ``aws s3 cp --ca-bundle``.

The dump Job: an init container dumps into an ``emptyDir`` (``mysqldump`` from the MySQL
server image, ``mongodump`` from the MongoDB image) with credentials read from mounted files,
then ``aws s3 cp`` uploads the archive under ``<database>/<UTC time>-…`` in the database's
bucket with the ObjectBucketClaim's keys. Retention is left to the bucket's lifecycle.
"""

from __future__ import annotations

from typing import Any

from attonix.blueprint.model import Database
from attonix.blueprint.naming import CRONJOB_MAX, derived
from attonix.render.kubernetes._context import DATABASES_NAMESPACE, Ctx, obj
from attonix.render.kubernetes.certificates import certificate
from attonix.render.kubernetes.rook import object_store_endpoint

#: The uploader: the AWS CLI, pinned.
AWS_CLI_IMAGE = "docker.io/amazon/aws-cli:2.22.35"
CA_DIR = "/run/secrets/object-store-ca"
DB_DIR = "/run/secrets/database"
BUCKET_DIR = "/run/secrets/bucket"
DUMP_DIR = "/dump"
UID = 10001
DUMP_ENGINES = ("mysql", "mongodb")


def backup_bucket(db: Database) -> str:
    """The bucket (and its ObjectBucketClaim, Secret and ConfigMap) holding a db's backups."""
    return derived(db.name, "backups")


def backs_up(db: Database) -> bool:
    """True when ``db`` has backups rendered into the object store."""
    return db.backup.enabled and db.engine in ("postgresql", *DUMP_ENGINES)


def ca_secret(db: Database) -> str:
    """The Secret whose ``ca.crt`` is the internal CA the object gateway's certificate chains to."""
    return derived(db.name, "backup-tls")


def backup_certificate(ctx: Ctx, db: Database) -> dict[str, Any]:
    """A client certificate from the internal CA; its Secret brings the CA (``ca.crt``)."""
    return certificate(
        ctx,
        ca_secret(db),
        namespace=DATABASES_NAMESPACE,
        secret=ca_secret(db),
        dns=[f"{db.name}-backup.{DATABASES_NAMESPACE}.svc"],
        usages=["digital signature", "key encipherment", "client auth"],
    )


def job_labels(ctx: Ctx, db: Database) -> dict[str, str]:
    """Labels of the dump Job's pods (what its NetworkPolicies select)."""
    return ctx.labels(derived(db.name, "backup"), component="backup", version=db.version)


def _dump_container(ctx: Ctx, db: Database, *, version: str) -> dict[str, Any]:
    host = ctx.database_host(db, client_namespace=DATABASES_NAMESPACE)
    if db.engine == "mysql":
        tls = f"--ssl-mode=VERIFY_IDENTITY --ssl-ca={CA_DIR}/ca.crt" if db.tls else ""
        script = (
            "set -eu; umask 077; "
            f"printf '[client]\\nuser=%s\\npassword=%s\\n' \"$(cat {DB_DIR}/rootUser)\" "
            f'"$(cat {DB_DIR}/rootPassword)" > /tmp/client.cnf; '
            f"mysqldump --defaults-extra-file=/tmp/client.cnf -h {host} {tls} "
            "--single-transaction --routines --events --all-databases "
            f"| gzip > {DUMP_DIR}/{db.name}.sql.gz"
        )
        image = f"container-registry.oracle.com/mysql/community-server:{version}"
    else:
        tls = f"&tls=true&tlsCAFile={CA_DIR}/ca.crt" if db.tls else ""
        script = (
            "set -eu; umask 077; "
            f'printf \'password: "%s"\\n\' "$(cat {DB_DIR}/password)" > /tmp/dump.yaml; '
            f"mongodump --config=/tmp/dump.yaml "
            f"--uri='mongodb://{host}/?replicaSet={db.name}&authSource=admin{tls}' "
            f"--username={db.database} --gzip --archive={DUMP_DIR}/{db.name}.archive.gz"
        )
        image = f"docker.io/library/mongo:{version}"
    return {
        "name": "dump",
        "image": image,
        "imagePullPolicy": "Always",
        "command": ["/bin/sh", "-c", script],
        "resources": RESOURCES,
        "volumeMounts": [
            {"name": "dump", "mountPath": DUMP_DIR},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108
            {"name": "database", "mountPath": DB_DIR, "readOnly": True},
            {"name": "ca", "mountPath": CA_DIR, "readOnly": True},
        ],
        "securityContext": _container_security(),
    }


#: Requests and limits of each Job container (a dump streams; it needs little memory).
RESOURCES = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


#: The timestamp that starts every dump's object name: ``date -u +%Y%m%dT%H%M%SZ`` (16 chars).
_STAMP = "%Y%m%dT%H%M%SZ"


def upload_script(
    *, bucket: str, prefix: str, suffix: str, dump: str, endpoint: str, retention_days: int
) -> str:
    """Upload one dump as ``<prefix>/<timestamp><suffix>``, then delete this database's dumps
    older than ``retention_days`` (what CloudNativePG's ``retentionPolicy`` does for
    PostgreSQL). Object names start with their UTC timestamp, so age is read from the name,
    whatever the store's own dates; other objects are never touched."""
    s3 = f"--endpoint-url {endpoint} --ca-bundle {CA_DIR}/ca.crt"
    return (
        "set -eu; "
        f'export AWS_ACCESS_KEY_ID="$(cat {BUCKET_DIR}/AWS_ACCESS_KEY_ID)" '
        f'AWS_SECRET_ACCESS_KEY="$(cat {BUCKET_DIR}/AWS_SECRET_ACCESS_KEY)"; '
        f"aws s3 cp {dump} s3://{bucket}/{prefix}/$(date -u +{_STAMP}){suffix} {s3}; "
        f'cutoff="$(date -u -d "@$(( $(date -u +%s) - {retention_days} * 86400 ))" +{_STAMP})"; '
        f"aws s3 ls s3://{bucket}/{prefix}/ {s3} "
        f"| awk -v cutoff=\"$cutoff\" -v suffix='{suffix}' "
        "'{ k = $NF } length(k) == 16 + length(suffix) "
        "&& substr(k, 17) == suffix && substr(k, 1, 16) < cutoff { print k }' "
        f'| while read -r key; do aws s3 rm "s3://{bucket}/{prefix}/$key" {s3}; done'
    )


def dump_cronjob(ctx: Ctx, db: Database, *, version: str) -> dict[str, Any]:
    """The scheduled dump-and-upload Job of a MySQL or MongoDB database; dumps older than
    ``backup.retention_days`` are deleted after each upload."""
    bucket = backup_bucket(db)
    suffix = "sql.gz" if db.engine == "mysql" else "archive.gz"
    upload = upload_script(
        bucket=bucket,
        prefix=db.name,
        suffix=f"-{db.name}.{suffix}",
        dump=f"{DUMP_DIR}/{db.name}.{suffix}",
        endpoint=object_store_endpoint_of(ctx, db),
        retention_days=db.backup.retention_days,
    )
    labels = job_labels(ctx, db)
    pod = {
        "restartPolicy": "OnFailure",
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "fsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "initContainers": [_dump_container(ctx, db, version=version)],
        "containers": [
            {
                "name": "upload",
                "image": AWS_CLI_IMAGE,
                "imagePullPolicy": "Always",
                "command": ["/bin/sh", "-c", upload],
                "resources": RESOURCES,
                "env": [{"name": "HOME", "value": "/tmp"}],  # noqa: S108
                "volumeMounts": [
                    {"name": "dump", "mountPath": DUMP_DIR, "readOnly": True},
                    # The claim's Secret: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, as files.
                    {"name": "bucket", "mountPath": BUCKET_DIR, "readOnly": True},
                    {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108
                    {"name": "ca", "mountPath": CA_DIR, "readOnly": True},
                ],
                "securityContext": _container_security(),
            }
        ],
        "volumes": [
            {"name": "dump", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
            {
                "name": "database",
                "secret": {"secretName": db.credentials_secret, "defaultMode": 0o400},
            },
            {"name": "ca", "secret": {"secretName": ca_secret(db), "defaultMode": 0o444}},
            {"name": "bucket", "secret": {"secretName": bucket, "defaultMode": 0o400}},
        ],
    }
    return obj(
        "batch/v1",
        "CronJob",
        derived(db.name, "backup", limit=CRONJOB_MAX),
        namespace=DATABASES_NAMESPACE,
        labels=labels,
        spec={
            "schedule": five_field_cron(db.backup.schedule),
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "backoffLimit": 2,
                    "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
                },
            },
        },
    )


def object_store_endpoint_of(ctx: Ctx, db: Database) -> str:
    """The HTTPS endpoint of the object pool a database's backups go to."""
    _, pool = ctx.pool(db.backup.object_pool, kind="object", what=f"backups of {db.name}")
    return object_store_endpoint(pool)


def five_field_cron(schedule: str) -> str:
    """A Kubernetes five-field cron from the blueprint's (CloudNativePG takes six, with seconds)."""
    fields = schedule.split()
    return " ".join(fields[1:] if len(fields) == 6 else fields)
