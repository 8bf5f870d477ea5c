"""Accounts, groups, role bindings and API tokens: the services behind the CLI and the API."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from attonix.server import audit
from attonix.server.audit import Actor
from attonix.server.auth import lifecycle, throttle
from attonix.server.auth.rbac import ROLES, Permission
from attonix.server.auth.sessions import API_TOKEN_PREFIX
from attonix.server.context import ServerContext
from attonix.server.db.models import (
    ApiToken,
    Environment,
    Group,
    RoleBinding,
    User,
    utcnow,
)
from attonix.server.errors import (
    BadRequest,
    Conflict,
    FieldError,
    NotFound,
    Unauthorized,
    Unprocessable,
)
from attonix.server.schemas import (
    ApiTokenCreated,
    ApiTokenOut,
    BindingOut,
    GroupOut,
    UserCreated,
    UserOut,
)
from attonix.server.security import passwords
from attonix.server.security.tokens import new_opaque_token


def get_user(s: Session, name: str) -> User:
    """The user called ``name`` or 404."""
    user = s.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"No user named {name!r}.")
    return user


def _group(s: Session, name: str) -> Group:
    group = s.execute(select(Group).where(Group.name == name)).scalar_one_or_none()
    if group is None:
        raise NotFound(f"No group named {name!r}.")
    return group


_NAMES = {"user": User.name, "group": Group.name, "environment": Environment.name}
_WHERE = {
    "user": "Create the account first (Users), or pick one from the list.",
    "group": "Create the group first (Groups), or pick one from the list.",
    "environment": "Create the environment first (Environments), or pick one from the list.",
}


def require_known(s: Session, kind: str, names: str | list[str], *, field: str) -> None:
    """Refuse (422) names of ``kind`` (``user``, ``group`` or ``environment``) that do not
    exist, each at its request field: ``field`` for one name, ``field.i`` for a list."""
    listed = [names] if isinstance(names, str) else names
    column = _NAMES[kind]
    known = set(s.execute(select(column).where(column.in_(set(listed)))).scalars())
    missing = [(i, n) for i, n in enumerate(listed) if n not in known]
    if not missing:
        return
    unknown = sorted({n for _, n in missing})
    raise Unprocessable(
        f"No {kind}{'s' if len(unknown) > 1 else ''} named {', '.join(map(repr, unknown))}.",
        hint=_WHERE[kind],
        errors=[
            FieldError(
                loc=["body", field] if isinstance(names, str) else ["body", field, str(i)],
                msg=f"No {kind} named {n!r}.",
                type=f"unknown_{kind}",
            )
            for i, n in missing
        ],
    )


def add_user(
    s: Session,
    *,
    name: str,
    email: str = "",
    full_name: str = "",
    is_admin: bool = False,
    groups: list[str] | None = None,
    source: str = "local",
    actor: Actor,
) -> tuple[User, str]:
    """Create an account with a one-time password (to change at first sign-in), in ``s``."""
    if s.execute(select(User.id).where(User.name == name)).first() is not None:
        raise Conflict(f"A user named {name!r} already exists.")
    otp = passwords.generate_password()
    user = User(
        name=name,
        email=email,
        full_name=full_name,
        is_admin=is_admin,
        password_hash=passwords.hash_password(otp),
        must_change_password=True,
        source=source,
    )
    require_known(s, "group", groups or [], field="groups")
    user.groups = [_group(s, g) for g in groups or []]
    s.add(user)
    try:
        s.flush()
    except IntegrityError:
        # A concurrent creation of the same name won the unique index.
        raise Conflict(f"A user named {name!r} already exists.") from None
    audit.record(
        s,
        actor,
        "user.create",
        target=f"user/{name}",
        detail={"admin": is_admin, "groups": sorted(groups or []), "source": source},
    )
    return user, otp


def create_user(
    ctx: ServerContext,
    *,
    name: str,
    email: str = "",
    full_name: str = "",
    is_admin: bool = False,
    groups: list[str] | None = None,
    actor: Actor,
) -> UserCreated:
    """Create (invite) a user; the one-time password is returned this once."""
    with ctx.db.session() as s:
        user, otp = add_user(
            s,
            name=name,
            email=email,
            full_name=full_name,
            is_admin=is_admin,
            groups=groups,
            actor=actor,
        )
        return UserCreated(user=UserOut.of(user), one_time_password=otp)


def create_admin(ctx: ServerContext, *, name: str, actor: Actor) -> UserCreated:
    """First-run bootstrap: a global administrator with a one-time password."""
    return create_user(ctx, name=name, is_admin=True, actor=actor)


def list_users(ctx: ServerContext) -> list[UserOut]:
    """Every account, by name."""
    with ctx.db.session() as s:
        return [UserOut.of(u) for u in s.execute(select(User).order_by(User.name)).scalars()]


def show_user(ctx: ServerContext, name: str) -> UserOut:
    """One account."""
    with ctx.db.session() as s:
        return UserOut.of(get_user(s, name))


def update_user(
    ctx: ServerContext,
    name: str,
    *,
    email: str | None = None,
    full_name: str | None = None,
    is_admin: bool | None = None,
    disabled: bool | None = None,
    groups: list[str] | None = None,
    unlock: bool = False,
    actor: Actor,
) -> UserOut:
    """Change an account. Disabling it ends its sessions and revokes its API tokens at once
    (re-enabling revives neither); a promotion restricts sessions that lack a second factor
    the new roles require."""
    with ctx.db.session() as s:
        user = get_user(s, name)
        changes: dict[str, object] = {}
        for field, value in (
            ("email", email),
            ("full_name", full_name),
            ("is_admin", is_admin),
            ("disabled", disabled),
        ):
            if value is not None and getattr(user, field) != value:
                setattr(user, field, value)
                changes[field] = value
        if groups is not None:
            require_known(s, "group", groups, field="groups")
            user.groups = [_group(s, g) for g in sorted(set(groups))]
            changes["groups"] = sorted(set(groups))
        if unlock:
            user.locked_until, user.failed_logins = None, 0
            changes["unlocked"] = True
        if disabled and "disabled" in changes:
            changes["ended"] = lifecycle.end_all_credentials(s, user, "disabled")
        user.updated_at = utcnow()
        if "groups" in changes or "is_admin" in changes:
            lifecycle.restrict_until_mfa(s, user_ids=[user.id])
        audit.record(s, actor, "user.update", target=f"user/{name}", detail=changes)
        s.flush()
        return UserOut.of(user)


def delete_user(ctx: ServerContext, name: str, *, actor: Actor) -> None:
    """Delete an account, its sessions, tokens and direct bindings."""
    with ctx.db.session() as s:
        user = get_user(s, name)
        if user.name == actor.name:
            raise Conflict("You cannot delete your own account.")
        s.execute(
            delete(RoleBinding).where(
                RoleBinding.subject_kind == "user", RoleBinding.subject == name
            )
        )
        s.delete(user)
        audit.record(s, actor, "user.delete", target=f"user/{name}")


def reset_password(ctx: ServerContext, name: str, *, actor: Actor) -> UserCreated:
    """Give a user a new one-time password, end every session and revoke every API token.

    The password goes to the administrator who asked (this response only), to hand over to
    the account's owner out of band; it must be changed at the first sign-in."""
    with ctx.db.session() as s:
        user = get_user(s, name)
        otp = passwords.generate_password()
        user.password_hash = passwords.hash_password(otp)
        user.must_change_password = True
        ended = lifecycle.end_all_credentials(s, user, "password-reset")
        audit.record(s, actor, "user.password_reset", target=f"user/{name}", detail=ended)
        return UserCreated(user=UserOut.of(user), one_time_password=otp)


def change_password(
    ctx: ServerContext,
    *,
    user_id: int,
    current: str,
    new: str,
    actor: Actor,
    session_id: str | None = None,
    keep_current_session: bool = True,
) -> int:
    """Change one's own password after checking the current one and the policy; end every
    other session (and the current one unless ``keep_current_session``). Attempts are
    throttled per account. Return how many sessions ended."""
    throttle.check_sensitive(ctx.db, ctx.settings, user_id, "password")
    error: Exception | None = None
    ended = 0
    with ctx.db.session() as s:
        user = s.get(User, user_id)
        if user is None or user.password_hash is None:
            raise NotFound("No such user.")
        if not passwords.verify_password(user.password_hash, current):
            audit.record(s, actor, "user.password_change", outcome="failure")
            error = Unauthorized("The current password is wrong.")
        else:
            problems = passwords.check_password_policy(
                new,
                min_length=ctx.settings.password_min_length,
                username=user.name,
                email=user.email,
            )
            if new == current:
                problems.append("Choose a password different from the current one.")
            if problems:
                raise Unprocessable(
                    " ".join(problems),
                    hint="Choose another password.",
                    errors=[
                        FieldError(loc=["body", "new_password"], msg=p, type="password_policy")
                        for p in problems
                    ],
                )
            user.password_hash = passwords.hash_password(new)
            user.must_change_password = False
            keep = session_id if keep_current_session else None
            ended = lifecycle.revoke_sessions(s, user.id, "password-change", keep=keep)
            audit.record(
                s,
                actor,
                "user.password_change",
                target=f"user/{user.name}",
                detail={"sessions_ended": ended},
            )
    if error is not None:
        raise error
    return ended


# --------------------------------------------------------------------------- groups


def list_groups(ctx: ServerContext) -> list[GroupOut]:
    """Every group with its members."""
    with ctx.db.session() as s:
        return [GroupOut.of(g) for g in s.execute(select(Group).order_by(Group.name)).scalars()]


def create_group(
    ctx: ServerContext, *, name: str, description: str = "", members: list[str], actor: Actor
) -> GroupOut:
    """Create a group with the named members."""
    with ctx.db.session() as s:
        if s.execute(select(Group.id).where(Group.name == name)).first() is not None:
            raise Conflict(f"A group named {name!r} already exists.")
        require_known(s, "user", members, field="members")
        group = Group(name=name, description=description)
        group.members = [get_user(s, m) for m in sorted(set(members))]
        s.add(group)
        try:
            s.flush()
        except IntegrityError:
            # A concurrent creation of the same name won the unique index.
            raise Conflict(f"A group named {name!r} already exists.") from None
        audit.record(s, actor, "group.create", target=f"group/{name}", detail={"members": members})
        return GroupOut.of(group)


def delete_group(ctx: ServerContext, name: str, *, actor: Actor) -> None:
    """Delete a group, its memberships and its bindings (the members' accounts stay)."""
    with ctx.db.session() as s:
        group = _group(s, name)
        members = sorted(u.name for u in group.members)
        # Through the relationship, so the session does not delete the same rows twice.
        group.members = []
        s.flush()
        bindings = s.execute(
            delete(RoleBinding).where(
                RoleBinding.subject_kind == "group", RoleBinding.subject == name
            )
        )
        s.delete(group)
        audit.record(
            s,
            actor,
            "group.delete",
            target=f"group/{name}",
            detail={
                "members": members,
                "bindings": int(getattr(bindings, "rowcount", 0) or 0),
            },
        )


# --------------------------------------------------------------------------- bindings


def list_bindings(ctx: ServerContext) -> list[BindingOut]:
    """Every role binding."""
    with ctx.db.session() as s:
        rows = s.execute(
            select(RoleBinding).order_by(RoleBinding.environment, RoleBinding.role, RoleBinding.id)
        ).scalars()
        return [BindingOut.model_validate(b) for b in rows]


def create_binding(
    ctx: ServerContext,
    *,
    role: str,
    environment: str,
    subject_kind: str,
    subject: str,
    actor: Actor,
) -> BindingOut:
    """Grant ``role`` in ``environment`` to a user or group."""
    if role not in ROLES:
        raise BadRequest(f"Unknown role {role!r}.", hint=f"Use one of {', '.join(ROLES)}.")
    with ctx.db.session() as s:
        require_known(s, "environment", environment, field="environment")
        require_known(s, subject_kind, subject, field="subject")
        binding = RoleBinding(
            role=role, environment=environment, subject_kind=subject_kind, subject=subject
        )
        s.add(binding)
        try:
            s.flush()
        except IntegrityError:
            raise Conflict("This binding already exists.") from None
        if subject_kind == "user":
            affected = [get_user(s, subject).id]
        else:
            affected = [u.id for u in _group(s, subject).members]
        lifecycle.restrict_until_mfa(s, user_ids=affected)
        audit.record(
            s,
            actor,
            "binding.create",
            target=f"{subject_kind}/{subject}",
            detail={"role": role, "environment": environment},
        )
        return BindingOut.model_validate(binding)


def delete_binding(ctx: ServerContext, binding_id: int, *, actor: Actor) -> None:
    """Remove a role binding."""
    with ctx.db.session() as s:
        b = s.get(RoleBinding, binding_id)
        if b is None:
            raise NotFound(f"No binding {binding_id}.")
        s.delete(b)
        audit.record(
            s,
            actor,
            "binding.delete",
            target=f"{b.subject_kind}/{b.subject}",
            detail={"role": b.role, "environment": b.environment},
        )


# --------------------------------------------------------------------------- API tokens

TOKEN_SCOPES = sorted(
    p.value
    for p in Permission
    if p not in (Permission.PUBLIC, Permission.SELF, Permission.TOKEN_CREATE)
)


def create_api_token(
    ctx: ServerContext,
    *,
    user_id: int,
    name: str,
    scopes: list[str],
    expires_days: int | None,
    actor: Actor,
    mfa_verified: bool = False,
) -> ApiTokenCreated:
    """Create a scoped API token; its value is returned once and stored only as a hash.

    ``mfa_verified`` says the creating session proved a second factor; only such tokens work
    while the owner's roles require MFA."""
    unknown = sorted(set(scopes) - set(TOKEN_SCOPES))
    if unknown or not scopes:
        raise BadRequest(
            f"Unknown or missing scopes: {', '.join(unknown) or '(none given)'}.",
            hint=f"Choose among: {', '.join(TOKEN_SCOPES)}.",
        )
    token, digest = new_opaque_token(API_TOKEN_PREFIX)
    with ctx.db.session() as s:
        row = ApiToken(
            user_id=user_id,
            name=name,
            token_hash=digest,
            scopes=sorted(set(scopes)),
            expires_at=(utcnow() + dt.timedelta(days=expires_days)) if expires_days else None,
            mfa_verified=mfa_verified,
        )
        s.add(row)
        s.flush()
        audit.record(
            s, actor, "api_token.create", target=f"api_token/{row.id}", detail={"scopes": scopes}
        )
        return ApiTokenCreated(token=token, info=ApiTokenOut.model_validate(row))


def list_api_tokens(ctx: ServerContext, *, user_id: int) -> list[ApiTokenOut]:
    """The caller's API tokens (metadata only)."""
    with ctx.db.session() as s:
        rows = s.execute(
            select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
        ).scalars()
        return [ApiTokenOut.model_validate(r) for r in rows]


def revoke_api_token(ctx: ServerContext, *, user_id: int, token_id: int, actor: Actor) -> None:
    """Revoke one of the caller's API tokens."""
    with ctx.db.session() as s:
        row = s.get(ApiToken, token_id)
        if row is None or row.user_id != user_id:
            raise NotFound(f"No API token {token_id}.")
        row.revoked_at = utcnow()
        audit.record(s, actor, "api_token.revoke", target=f"api_token/{token_id}")
