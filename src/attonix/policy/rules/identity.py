"""Identity rules: MFA for administrators, OIDC client secrets, password and session policy."""

from __future__ import annotations

from collections.abc import Iterator

from attonix.policy.findings import Area, Context, Issue, Rule, Severity

_AC = ("security", "access_control")


def _admin_mfa(ctx: Context) -> Iterator[Issue]:
    ac = ctx.blueprint.security.access_control
    if "admin" not in ac.mfa_required_for:
        yield Issue(
            (*_AC, "mfa_required_for"),
            "security/access-control",
            "administrators can log in with a password alone",
        )


def _oidc_secret(ctx: Context) -> Iterator[Issue]:
    idp = ctx.blueprint.users.identity_provider
    if idp.kind == "oidc" and idp.client_secret is None:
        yield Issue(
            ("users", "identity_provider", "client_id"),
            "users/identity-provider",
            "the OIDC client has no client secret: the Central Server cannot authenticate "
            "to the identity provider",
        )


def _passwords(ctx: Context) -> Iterator[Issue]:
    users = ctx.blueprint.users
    if users.identity_provider.kind != "local":
        return
    policy = users.password_policy
    if policy.min_length < 12:
        yield Issue(
            ("users", "password_policy", "min_length"),
            "users/password-policy",
            f"local passwords may be as short as {policy.min_length} characters",
        )
    if not policy.reject_breached:
        yield Issue(
            ("users", "password_policy", "reject_breached"),
            "users/password-policy",
            "local passwords known from breaches are accepted",
        )


def _sessions(ctx: Context) -> Iterator[Issue]:
    minutes = ctx.blueprint.security.access_control.session_minutes
    if minutes > 60:
        yield Issue(
            (*_AC, "session_minutes"),
            "security/access-control",
            f"sessions stay valid for {minutes} minutes of inactivity",
        )


def _disabled_bound(ctx: Context) -> Iterator[Issue]:
    bp = ctx.blueprint
    disabled = {a.name for a in bp.users.accounts if a.disabled}
    for i, b in enumerate(bp.security.access_control.bindings):
        for j, user in enumerate(b.users):
            if user in disabled:
                yield Issue(
                    (*_AC, "bindings", i, "users", j),
                    f"account/{user}",
                    f"disabled account {user!r} still holds the {b.role} role",
                )


RULES: tuple[Rule, ...] = (
    Rule(
        id="ATX065",
        title="Administrators without MFA",
        severity=Severity.high,
        area=Area.identity,
        rationale="An administrator's password alone controls the whole data center; a "
        "phished or reused password must not be enough.",
        fix="Add 'admin' to 'security.access_control.mfa_required_for'.",
        check=_admin_mfa,
    ),
    Rule(
        id="ATX066",
        title="OIDC identity provider without a client secret",
        severity=Severity.high,
        area=Area.identity,
        rationale="A confidential OIDC client must prove its identity at the token endpoint; "
        "without a secret anyone can redeem codes as the Central Server.",
        fix="Declare a secret and set 'users.identity_provider.client_secret' to its name.",
        check=_oidc_secret,
    ),
    Rule(
        id="ATX067",
        title="Weak local password policy",
        severity=Severity.medium,
        area=Area.identity,
        rationale="Short or breached passwords fall to guessing and credential stuffing.",
        fix="Set 'password_policy.min_length' to 12 or more and 'reject_breached: true'.",
        check=_passwords,
    ),
    Rule(
        id="ATX068",
        title="Long idle sessions",
        severity=Severity.low,
        area=Area.identity,
        rationale="A console left open for hours is a session anyone at the desk can use.",
        fix="Set 'security.access_control.session_minutes' to 60 or less (15 is usual).",
        check=_sessions,
    ),
    Rule(
        id="ATX069",
        title="Disabled account still bound to a role",
        severity=Severity.low,
        area=Area.identity,
        rationale="Stale bindings come back to life if the account is re-enabled.",
        fix="Remove the account from the binding's 'users'.",
        check=_disabled_bound,
    ),
)
