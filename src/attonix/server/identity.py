"""Identity as code: a blueprint's groups, accounts and role bindings reconciled into the server.

Created and updated to match; accounts marked ``disabled`` are disabled; bindings the
blueprint no longer lists are disabled (not deleted). Accounts that came from a blueprint but
are no longer in it are reported, never silently deleted.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from attonix.blueprint import Blueprint
from attonix.server import audit
from attonix.server.audit import Actor
from attonix.server.auth.users import add_user
from attonix.server.db.models import AuthSession, Group, RoleBinding, User, utcnow
from attonix.server.schemas import IdentityDrift

BLUEPRINT = "blueprint"


def reconcile(s: Session, bp: Blueprint, *, actor: Actor) -> IdentityDrift:
    """Bring users, groups and bindings in line with ``bp`` inside the caller's transaction."""
    drift = IdentityDrift()
    groups = {g.name: g for g in s.execute(select(Group)).scalars()}
    for g in bp.users.groups:
        row = groups.get(g.name)
        if row is None:
            row = Group(name=g.name, description=g.description, source=BLUEPRINT)
            s.add(row)
            groups[g.name] = row
            drift.created.append(f"group/{g.name}")
        elif row.description != g.description:
            row.description = g.description
            drift.updated.append(f"group/{g.name}")
    s.flush()

    users = {u.name: u for u in s.execute(select(User)).scalars()}
    declared = set()
    for a in bp.users.accounts:
        declared.add(a.name)
        wanted_groups = sorted(set(a.groups))
        user = users.get(a.name)
        if user is None:
            user, otp = add_user(
                s,
                name=a.name,
                email=a.email,
                full_name=a.full_name,
                groups=wanted_groups,
                source=BLUEPRINT,
                actor=actor,
            )
            user.disabled = a.disabled
            drift.created.append(f"user/{a.name}")
            drift.one_time_passwords[a.name] = otp
            continue
        changed = False
        for field, value in (("email", a.email), ("full_name", a.full_name)):
            if getattr(user, field) != value:
                setattr(user, field, value)
                changed = True
        if sorted(g.name for g in user.groups) != wanted_groups:
            user.groups = [groups[n] for n in wanted_groups]
            changed = True
        if a.disabled and not user.disabled:
            user.disabled = True
            s.execute(
                update(AuthSession)
                .where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
                .values(revoked_at=utcnow(), revoked_reason="disabled")
            )
            drift.disabled.append(f"user/{a.name}")
        elif changed:
            drift.updated.append(f"user/{a.name}")
    drift.not_in_blueprint = sorted(
        f"user/{n}" for n, u in users.items() if u.source == BLUEPRINT and n not in declared
    )

    wanted: set[tuple[str, str, str, str]] = {
        (b.role, env, kind, subject)
        for b in bp.security.access_control.bindings
        for env in b.environments
        for kind, subjects in (("user", b.users), ("group", b.groups))
        for subject in subjects
    }
    existing = {
        (r.role, r.environment, r.subject_kind, r.subject): r
        for r in s.execute(select(RoleBinding)).scalars()
    }
    for key in sorted(wanted):
        binding = existing.get(key)
        label = f"binding/{key[1]}/{key[0]}/{key[2]}:{key[3]}"
        if binding is None:
            s.add(
                RoleBinding(
                    role=key[0],
                    environment=key[1],
                    subject_kind=key[2],
                    subject=key[3],
                    source=BLUEPRINT,
                )
            )
            drift.created.append(label)
        elif binding.disabled:
            binding.disabled = False
            drift.updated.append(label)
    for key, binding in existing.items():
        if binding.source == BLUEPRINT and key not in wanted and not binding.disabled:
            binding.disabled = True
            drift.disabled.append(f"binding/{key[1]}/{key[0]}/{key[2]}:{key[3]}")
    s.flush()
    audit.record(
        s,
        actor,
        "identity.reconcile",
        detail={
            "created": drift.created,
            "updated": drift.updated,
            "disabled": drift.disabled,
            "not_in_blueprint": drift.not_in_blueprint,
        },
    )
    return drift
