"""Who holds which roles where, and whether those roles require a second factor."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from attonix.server.db.models import Environment, Group, GroupMember, RoleBinding, User


def roles_of(session: Session, user: User) -> dict[str, frozenset[str]]:
    """The user's roles per environment, through direct and group bindings."""
    group_names = select(GroupMember.group_id).where(GroupMember.user_id == user.id)
    names = select(Group.name).where(Group.id.in_(group_names))
    rows = session.execute(
        select(RoleBinding.environment, RoleBinding.role).where(
            RoleBinding.disabled.is_(False),
            or_(
                (RoleBinding.subject_kind == "user") & (RoleBinding.subject == user.name),
                (RoleBinding.subject_kind == "group") & RoleBinding.subject.in_(names),
            ),
        )
    ).all()
    out: dict[str, set[str]] = {}
    for env, role in rows:
        out.setdefault(env, set()).add(role)
    return {k: frozenset(v) for k, v in out.items()}


def mfa_required(session: Session, user: User) -> bool:
    """Whether the user's roles require a second factor (per each environment's blueprint)."""
    policies = dict(session.execute(select(Environment.name, Environment.mfa_required_for)).all())
    if user.is_admin and (not policies or any("admin" in p for p in policies.values())):
        return True
    return any(
        role in policies.get(env, ["admin"])
        for env, roles in roles_of(session, user).items()
        for role in roles
    )
