"""Identity as code, scoped and approved: a blueprint's groups, accounts, role bindings and MFA
policy, planned at upload and applied only when an identity administrator approves.

A blueprint uploaded into environment E speaks for E only:

- role bindings are read for E alone; bindings it names for other environments are listed as
  ``ignored`` and never touch them, and only bindings that came from a blueprint *for E* can be
  disabled when the blueprint stops listing them;
- accounts and groups are global, so creating, updating or disabling one (including a group
  membership, which can grant roles elsewhere) is an identity change;
- a weaker MFA policy for E is an identity change; a stricter one applies at once.

Identity changes are never applied by the upload: they are stored as a pending
:class:`~attonix.server.db.models.IdentityPlan` that a holder of ``users:write`` approves or
rejects (the two-person rule applies where configured). Approval re-plans against the current
state and refuses if the result differs from what was shown. Accounts are created without a
password: their owner signs in through the identity provider, or an identity administrator
issues a one-time password (``attonix users reset-password``) and hands it over out of band.
Accounts that came from a blueprint but are no longer in it are reported, never deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from attonix.blueprint import Blueprint
from attonix.server import audit
from attonix.server.audit import Actor
from attonix.server.auth import lifecycle
from attonix.server.db.models import Group, RoleBinding, User
from attonix.server.schemas import IdentityDrift

BLUEPRINT = "blueprint"


@dataclass
class _Changes:
    """What reconciling would do (labels in a stable order) and what it ignores."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    not_in_blueprint: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def drift(self) -> IdentityDrift:
        return IdentityDrift(
            created=self.created,
            updated=self.updated,
            disabled=self.disabled,
            not_in_blueprint=self.not_in_blueprint,
            ignored=self.ignored,
            warnings=self.warnings,
        )


def _wanted_bindings(
    bp: Blueprint, environment: str
) -> tuple[set[tuple[str, str, str]], list[str]]:
    """(role, kind, subject) bound in ``environment``, and labels of bindings for others."""
    wanted: set[tuple[str, str, str]] = set()
    ignored: set[str] = set()
    for b in bp.security.access_control.bindings:
        for env in b.environments:
            for kind, subjects in (("user", b.users), ("group", b.groups)):
                for subject in subjects:
                    if env == environment:
                        wanted.add((b.role, kind, subject))
                    else:
                        ignored.add(f"binding/{env}/{b.role}/{kind}:{subject}")
    return wanted, sorted(ignored)


def mfa_policy_change(current: list[str], bp: Blueprint) -> tuple[list[str], bool]:
    """The blueprint's MFA roles, and whether adopting them weakens ``current`` (needs approval)."""
    wanted: list[str] = sorted(set(bp.security.access_control.mfa_required_for))
    return wanted, not set(current) <= set(wanted)


def _group_envs(s: Session) -> dict[str, set[str]]:
    envs: dict[str, set[str]] = {}
    for b in s.execute(
        select(RoleBinding).where(
            RoleBinding.subject_kind == "group", RoleBinding.disabled.is_(False)
        )
    ).scalars():
        envs.setdefault(b.subject, set()).add(b.environment)
    return envs


def reconcile(
    s: Session,
    bp: Blueprint,
    *,
    environment: str,
    mfa_policy: list[str],
    actor: Actor,
    apply: bool,
) -> tuple[IdentityDrift, list[str] | None]:
    """Plan (``apply=False``) or apply the identity of ``bp`` for ``environment``.

    ``mfa_policy`` is the environment's current MFA roles. Returns the changes and, when the
    blueprint weakens the MFA policy, the new one (for the caller to store on approval).
    """
    ch = _Changes()
    group_envs = _group_envs(s)
    groups = {g.name: g for g in s.execute(select(Group)).scalars()}
    for g in bp.users.groups:
        row = groups.get(g.name)
        if row is None:
            ch.created.append(f"group/{g.name}")
            if apply:
                row = Group(name=g.name, description=g.description, source=BLUEPRINT)
                s.add(row)
                groups[g.name] = row
        elif row.description != g.description:
            ch.updated.append(f"group/{g.name}")
            if apply:
                row.description = g.description
    if apply:
        s.flush()

    users = {u.name: u for u in s.execute(select(User)).scalars()}
    declared: set[str] = set()
    for a in bp.users.accounts:
        declared.add(a.name)
        wanted_groups = sorted(set(a.groups))
        user = users.get(a.name)
        if user is None:
            ch.created.append(f"user/{a.name}")
            for gname in wanted_groups:
                elsewhere = sorted(group_envs.get(gname, set()) - {environment})
                if elsewhere:
                    ch.warnings.append(
                        f"user/{a.name} joins group/{gname}, which holds roles in "
                        f"{', '.join(elsewhere)}"
                    )
            if apply:
                # No password: the owner signs in through the identity provider, or an
                # identity administrator issues a one-time password out of band.
                user = User(
                    name=a.name,
                    email=a.email,
                    full_name=a.full_name,
                    password_hash=None,
                    source=BLUEPRINT,
                    disabled=a.disabled,
                )
                user.groups = [groups[n] for n in wanted_groups if n in groups]
                s.add(user)
                s.flush()
                audit.record(
                    s,
                    actor,
                    "user.create",
                    target=f"user/{a.name}",
                    detail={"groups": wanted_groups, "source": BLUEPRINT},
                )
            continue
        if a.disabled and not user.disabled:
            ch.disabled.append(
                f"user/{a.name}" + (" (global administrator)" if user.is_admin else "")
            )
            if apply:
                lifecycle.disable_account(s, user, reason="disabled")
            continue
        changed = [
            f for f, v in (("email", a.email), ("full_name", a.full_name)) if getattr(user, f) != v
        ]
        current_groups = sorted(g.name for g in user.groups)
        if current_groups != wanted_groups:
            changed.append("groups")
            for gname in sorted(set(wanted_groups) - set(current_groups)):
                elsewhere = sorted(group_envs.get(gname, set()) - {environment})
                if elsewhere:
                    ch.warnings.append(
                        f"user/{a.name} joins group/{gname}, which holds roles in "
                        f"{', '.join(elsewhere)}"
                    )
        if changed:
            ch.updated.append(
                f"user/{a.name} ({', '.join(changed)})"
                + (" (global administrator)" if user.is_admin else "")
            )
            if apply:
                user.email, user.full_name = a.email, a.full_name
                user.groups = [groups[n] for n in wanted_groups if n in groups]
    ch.not_in_blueprint = sorted(
        f"user/{n}" for n, u in users.items() if u.source == BLUEPRINT and n not in declared
    )

    wanted, ch.ignored = _wanted_bindings(bp, environment)
    existing = {
        (r.role, r.subject_kind, r.subject): r
        for r in s.execute(
            select(RoleBinding).where(RoleBinding.environment == environment)
        ).scalars()
    }
    for key in sorted(wanted):
        binding = existing.get(key)
        label = f"binding/{environment}/{key[0]}/{key[1]}:{key[2]}"
        if binding is None:
            ch.created.append(label)
            if apply:
                s.add(
                    RoleBinding(
                        role=key[0],
                        environment=environment,
                        subject_kind=key[1],
                        subject=key[2],
                        source=BLUEPRINT,
                    )
                )
        elif binding.disabled:
            ch.updated.append(label)
            if apply:
                binding.disabled = False
    for key, binding in sorted(existing.items()):
        if binding.source == BLUEPRINT and key not in wanted and not binding.disabled:
            ch.disabled.append(f"binding/{environment}/{key[0]}/{key[1]}:{key[2]}")
            if apply:
                binding.disabled = True

    new_policy, weakens = mfa_policy_change(mfa_policy, bp)
    if weakens:
        ch.updated.append(
            f"policy/{environment}/mfa_required_for: [{', '.join(sorted(mfa_policy))}] → "
            f"[{', '.join(new_policy)}]"
        )
    if apply:
        s.flush()
        lifecycle.restrict_until_mfa(s, user_ids=None)
        audit.record(
            s,
            actor,
            "identity.apply",
            target=f"environment/{environment}",
            detail={
                "created": ch.created,
                "updated": ch.updated,
                "disabled": ch.disabled,
                "not_in_blueprint": ch.not_in_blueprint,
                "ignored": ch.ignored,
            },
        )
    drift = ch.drift()
    return drift, (new_policy if weakens else None)


def pending(drift: IdentityDrift) -> bool:
    """Whether a plan changes anything (and so needs approval)."""
    return bool(drift.created or drift.updated or drift.disabled)
