"""Administration: users (create/invite, update, disable, delete, reset), groups, role bindings."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from attonix.server.auth import mfa, users
from attonix.server.auth.deps import Ctx, Require, actor_of
from attonix.server.auth.rbac import Permission, Principal
from attonix.server.schemas import (
    NAME_PATTERN,
    BindingOut,
    GroupOut,
    RoleName,
    UserCreated,
    UserOut,
)

RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
router = APIRouter(tags=["admin"])
Reader = Annotated[Principal, Depends(Require(Permission.USERS_READ))]
Writer = Annotated[Principal, Depends(Require(Permission.USERS_WRITE))]
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]


class UserIn(BaseModel):
    """A new account (it gets a one-time password)."""

    name: Name
    email: str = Field("", max_length=254)
    full_name: str = Field("", max_length=200)
    is_admin: bool = False
    groups: list[Name] = Field(default_factory=list, max_length=100)


class UserPatch(BaseModel):
    """Fields to change on an account; omitted ones stay."""

    email: str | None = Field(None, max_length=254)
    full_name: str | None = Field(None, max_length=200)
    is_admin: bool | None = None
    disabled: bool | None = None
    groups: list[Name] | None = Field(None, max_length=100)
    unlock: bool = False


class GroupIn(BaseModel):
    """A new group."""

    name: Name
    description: str = Field("", max_length=500)
    members: list[Name] = Field(default_factory=list, max_length=1000)


class BindingIn(BaseModel):
    """Grant a role in an environment to a user or a group."""

    role: RoleName
    environment: Name
    subject_kind: Literal["user", "group"]
    subject: Name


@router.get("/users", response_model=list[UserOut], name="list_users")
def list_users(ctx: Ctx, p: Reader) -> list[UserOut]:
    """Every account."""
    return users.list_users(ctx)


@router.post("/users", response_model=UserCreated, status_code=201, name="create_user")
def create_user(body: UserIn, request: Request, ctx: Ctx, p: Writer) -> UserCreated:
    """Create (invite) an account; its one-time password is in this response only."""
    return users.create_user(
        ctx,
        name=body.name,
        email=body.email,
        full_name=body.full_name,
        is_admin=body.is_admin,
        groups=body.groups,
        actor=actor_of(request, p),
    )


@router.get("/users/{name}", response_model=UserOut, name="get_user")
def get_user(name: str, ctx: Ctx, p: Reader) -> UserOut:
    """One account."""
    return users.show_user(ctx, name)


@router.patch("/users/{name}", response_model=UserOut, name="update_user")
def update_user(name: str, body: UserPatch, request: Request, ctx: Ctx, p: Writer) -> UserOut:
    """Change an account (disable it to end its sessions at once; unlock after a lockout)."""
    return users.update_user(
        ctx,
        name,
        email=body.email,
        full_name=body.full_name,
        is_admin=body.is_admin,
        disabled=body.disabled,
        groups=body.groups,
        unlock=body.unlock,
        actor=actor_of(request, p),
    )


@router.delete("/users/{name}", status_code=204, name="delete_user")
def delete_user(name: str, request: Request, ctx: Ctx, p: Writer) -> None:
    """Delete an account with its sessions and tokens."""
    users.delete_user(ctx, name, actor=actor_of(request, p))


@router.post("/users/{name}/reset-password", response_model=UserCreated, name="reset_password")
def reset_password(name: str, request: Request, ctx: Ctx, p: Writer) -> UserCreated:
    """Issue a new one-time password and end the user's sessions."""
    return users.reset_password(ctx, name, actor=actor_of(request, p))


@router.post("/users/{name}/reset-mfa", status_code=204, name="reset_mfa")
def reset_mfa(name: str, request: Request, ctx: Ctx, p: Writer) -> None:
    """Turn a user's MFA off (lost device); they enrol again at next sign-in."""
    mfa.reset(ctx, name=name, actor=actor_of(request, p))


@router.get("/groups", response_model=list[GroupOut], name="list_groups")
def list_groups(ctx: Ctx, p: Reader) -> list[GroupOut]:
    """Every group with its members."""
    return users.list_groups(ctx)


@router.post("/groups", response_model=GroupOut, status_code=201, name="create_group")
def create_group(body: GroupIn, request: Request, ctx: Ctx, p: Writer) -> GroupOut:
    """Create a group."""
    return users.create_group(
        ctx,
        name=body.name,
        description=body.description,
        members=body.members,
        actor=actor_of(request, p),
    )


@router.delete("/groups/{name}", status_code=204, name="delete_group")
def delete_group(name: str, request: Request, ctx: Ctx, p: Writer) -> None:
    """Delete a group and its role bindings."""
    users.delete_group(ctx, name, actor=actor_of(request, p))


@router.get("/bindings", response_model=list[BindingOut], name="list_bindings")
def list_bindings(ctx: Ctx, p: Reader) -> list[BindingOut]:
    """Every role binding."""
    return users.list_bindings(ctx)


@router.post("/bindings", response_model=BindingOut, status_code=201, name="create_binding")
def create_binding(body: BindingIn, request: Request, ctx: Ctx, p: Writer) -> BindingOut:
    """Grant a role in an environment."""
    return users.create_binding(
        ctx,
        role=body.role,
        environment=body.environment,
        subject_kind=body.subject_kind,
        subject=body.subject,
        actor=actor_of(request, p),
    )


@router.delete("/bindings/{binding_id}", status_code=204, name="delete_binding")
def delete_binding(binding_id: RowId, request: Request, ctx: Ctx, p: Writer) -> None:
    """Remove a role binding."""
    users.delete_binding(ctx, binding_id, actor=actor_of(request, p))
