"""The secrets vault: per-environment secrets under envelope encryption; values are write-only.

A value is sealed with a fresh data key (``security.envelope``) whose associated data names
the environment and the secret, so a ciphertext copied to another row does not open. Values
leave the vault only towards the deploy drivers, through :class:`VaultSecretSource`; the API
and logs see names, keys, version and timestamps only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from attonix.deploy.secrets import SecretMissing
from attonix.server import audit
from attonix.server.audit import Actor
from attonix.server.context import ServerContext
from attonix.server.db.conflicts import retrying
from attonix.server.db.models import ClusterConnection, Environment, Secret, utcnow
from attonix.server.errors import NotFound
from attonix.server.schemas import SecretOut
from attonix.server.security.envelope import KeyRing, Sealed


def _aad(environment: str, name: str) -> bytes:
    return f"secret:{environment}/{name}".encode()


def environment_row(s: Session, name: str) -> Environment:
    """The environment called ``name`` or 404."""
    env = s.execute(select(Environment).where(Environment.name == name)).scalar_one_or_none()
    if env is None:
        raise NotFound(f"No environment named {name!r}.")
    return env


_Sealed = TypeVar("_Sealed", Secret, ClusterConnection)
_Out = TypeVar("_Out")
#: The column that names a sealed row within its environment.
_NAME_OF = {Secret: "name", ClusterConnection: "cluster"}


def upsert_sealed(
    ctx: ServerContext,
    model: type[_Sealed],
    *,
    environment: str,
    name: str,
    plain: dict[str, str],
    aad: bytes,
    actor: Actor,
    fill: Callable[[_Sealed], None],
    done: Callable[[Session, _Sealed], _Out],
) -> _Out:
    """Create or replace the sealed row ``name`` of ``model`` in ``environment`` (a secret, a
    cluster connection): ``plain`` sealed under ``aad``, the version raised, who and when set.

    ``fill`` sets the row's own clear fields; ``done`` audits and answers inside the same
    transaction. The row is locked while its version is raised, so N acknowledged writes give
    N distinct versions; a first write that loses the race to create the row is retried and
    then finds it."""
    sealed = ctx.keyring.seal(json.dumps(plain, sort_keys=True).encode(), aad=aad)
    column = getattr(model, _NAME_OF[model])

    def write() -> _Out:
        with ctx.db.session() as s:
            env = environment_row(s, environment)
            row = s.execute(
                select(model)
                .where(model.environment_id == env.id, column == name)
                .with_for_update()
            ).scalar_one_or_none()
            if row is None:
                row = model(environment_id=env.id, version=0, **{_NAME_OF[model]: name})
                s.add(row)
            fill(row)
            row.sealed, row.kek_id = sealed.to_bytes(), sealed.kek_id
            row.version += 1
            row.updated_at, row.updated_by = utcnow(), actor.name
            s.flush()
            return done(s, row)

    return retrying(write)


def put_secret(
    ctx: ServerContext, *, environment: str, name: str, values: dict[str, str], actor: Actor
) -> SecretOut:
    """Create or replace a secret's value (a new version); return its metadata only."""

    def fill(row: Secret) -> None:
        row.keys = sorted(values)

    def done(s: Session, row: Secret) -> SecretOut:
        # The audit entry names the keys that changed, never a value.
        audit.record(
            s,
            actor,
            "secret.put",
            target=f"secret/{environment}/{name}",
            detail={"version": row.version, "keys": row.keys},
        )
        return SecretOut.model_validate(row)

    return upsert_sealed(
        ctx,
        Secret,
        environment=environment,
        name=name,
        plain=values,
        aad=_aad(environment, name),
        actor=actor,
        fill=fill,
        done=done,
    )


def list_secrets(ctx: ServerContext, *, environment: str) -> list[SecretOut]:
    """Metadata of every secret of an environment."""
    with ctx.db.session() as s:
        env = environment_row(s, environment)
        rows = s.execute(
            select(Secret).where(Secret.environment_id == env.id).order_by(Secret.name)
        ).scalars()
        return [SecretOut.model_validate(r) for r in rows]


def delete_secret(ctx: ServerContext, *, environment: str, name: str, actor: Actor) -> None:
    """Remove a secret."""
    with ctx.db.session() as s:
        env = environment_row(s, environment)
        row = s.execute(
            select(Secret).where(Secret.environment_id == env.id, Secret.name == name)
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"No secret {name!r} in {environment!r}.")
        s.delete(row)
        audit.record(s, actor, "secret.delete", target=f"secret/{environment}/{name}")


@dataclass(frozen=True)
class RotationResult:
    """How many secrets were re-wrapped, and with which key."""

    rewrapped: int
    active_kek: str


def _rewrap(ctx: ServerContext, ring: KeyRing, model: type[_Sealed]) -> int:
    """Re-wrap the data key of every row of ``model`` not under the active KEK yet."""
    count = 0
    with ctx.db.session() as s:
        ids = list(s.execute(select(model.id).where(model.kek_id != ring.active_id)).scalars())
    for row_id in ids:
        with ctx.db.session() as s:
            row = s.get(model, row_id, with_for_update=True)
            if row is None or row.kek_id == ring.active_id:
                continue
            fresh = ring.rewrap(Sealed.from_bytes(row.sealed))
            row.sealed, row.kek_id = fresh.to_bytes(), fresh.kek_id
            count += 1
    return count


def rotate(ctx: ServerContext, *, actor: Actor, keyring: KeyRing | None = None) -> RotationResult:
    """Re-wrap every data key with the active KEK — the secrets' and the cluster connections'
    credentials — one row at a time (no downtime: a row is readable before and after, with
    either key in the ring)."""
    ring = keyring or ctx.keyring
    count = _rewrap(ctx, ring, Secret) + _rewrap(ctx, ring, ClusterConnection)
    with ctx.db.session() as s:
        audit.record(
            s, actor, "vault.rotate", detail={"rewrapped": count, "active_kek": ring.active_id}
        )
    return RotationResult(rewrapped=count, active_kek=ring.active_id)


class VaultSecretSource:
    """The deploy drivers' ``SecretSource``, backed by one environment's vault."""

    def __init__(self, ctx: ServerContext, environment: str) -> None:
        """Read secrets of ``environment``."""
        self._ctx = ctx
        self._environment = environment

    def __repr__(self) -> str:
        """Name the environment only."""
        return f"VaultSecretSource({self._environment!r})"

    def get(self, name: str) -> dict[str, str]:
        """Key→value of the secret ``name``; raise ``SecretMissing`` if it is not stored."""
        with self._ctx.db.session() as s:
            env = environment_row(s, self._environment)
            row = s.execute(
                select(Secret).where(Secret.environment_id == env.id, Secret.name == name)
            ).scalar_one_or_none()
            if row is None:
                raise SecretMissing(
                    f"secret {name!r} has no value in the vault of environment "
                    f"{self._environment!r}",
                    hint=f"Set it: PUT /api/v1/environments/{self._environment}/secrets/{name}",
                )
            plain = self._ctx.keyring.open(
                Sealed.from_bytes(row.sealed), aad=_aad(self._environment, name)
            )
        values: dict[str, str] = json.loads(plain)
        return values
