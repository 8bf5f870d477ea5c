"""Central Server fixtures: every test runs against SQLite, PostgreSQL and MariaDB.

One uniquely named database per engine and run (created, migrated, dropped at the end); every
test starts from empty tables (all rows deleted, audit genesis restored), so no state is
shared between tests.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import make_url

from attonix.server.app import create_app
from attonix.server.context import ServerContext, build_context
from attonix.server.db import migrate
from attonix.server.db.engine import Database, make_database
from attonix.server.db.models import AuditHead, Base, User
from attonix.server.security import hash_password
from attonix.server.security.envelope import KeyRing
from attonix.server.security.totp import new_totp_secret, totp_now
from attonix.server.settings import Settings

PG_ADMIN = os.environ.get(
    "ATTONIX_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
MY_ADMIN = os.environ.get("ATTONIX_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")
PASSWORD = "Correct-Horse-Battery-42"
KEK_LINE = KeyRing.generate_line("test-kek")

ENGINES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.integration),
]


def _create_database(kind: str, tmp: Path) -> tuple[str, Any]:
    """A fresh database URL for ``kind`` and a function that drops it."""
    name = f"atx_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    if kind == "sqlite":
        return f"sqlite:///{tmp / (name + '.db')}", lambda: None
    admin_url = PG_ADMIN if kind == "postgresql" else MY_ADMIN
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            if kind == "postgresql":
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()

    return url, drop


@pytest.fixture(scope="session", params=ENGINES)
def engine_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """One migrated database per engine for the whole run."""
    url, drop = _create_database(request.param, tmp_path_factory.mktemp("db"))
    db = make_database(url, pool_size=5, max_overflow=20)
    migrate.upgrade(db)
    yield db
    db.dispose()
    drop()


def _empty(db: Database) -> None:
    with db.session() as s:
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(delete(table))
        s.add(AuditHead(id=1, seq=0, hash="0" * 64))


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for tests: fixed keys, no in-process worker, small limits."""
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "signing_key": "k" * 48,
        "kek": KEK_LINE,
        "run_workers": False,
        "login_max_failures": 5,
        "login_lockout_seconds": 300,
        "login_ip_max_attempts": 1000,
        "auto_migrate": False,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default test settings."""
    return make_settings(tmp_path)


@pytest.fixture
def ctx(engine_db: Database, settings: Settings) -> ServerContext:
    """A server context on empty tables of the engine under test."""
    _empty(engine_db)
    return build_context(settings, db=engine_db)


@pytest.fixture
def client(ctx: ServerContext) -> Iterator[TestClient]:
    """The app over ``ctx``, driven in-process."""
    app = create_app(ctx.settings, ctx=ctx)
    with TestClient(app, base_url="http://testserver") as c:
        yield c


@dataclasses.dataclass
class LoggedIn:
    """A signed-in test user."""

    name: str
    token: str
    refresh: str
    totp_secret: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        """Authorization header."""
        return {"Authorization": f"Bearer {self.token}"}


def add_user(
    ctx: ServerContext, name: str, *, admin: bool = False, mfa: bool = False
) -> str | None:
    """Create a ready account (password set, no change pending); return its TOTP secret."""
    secret = new_totp_secret() if mfa else None
    with ctx.db.session() as s:
        user = User(
            name=name,
            email=f"{name}@example.test",
            password_hash=hash_password(PASSWORD),
            is_admin=admin,
        )
        if secret:
            user.mfa_enabled = True
            s.add(user)
            s.flush()
            user.mfa_secret = ctx.keyring.seal(
                secret.encode(), aad=f"mfa:{user.id}".encode()
            ).to_bytes()
        s.add(user)
    return secret


def login(client: TestClient, name: str, *, secret: str | None = None) -> LoggedIn:
    """Sign in through the API (with the TOTP step when ``secret`` is given)."""
    r = client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    if body["mfa_required"]:
        assert secret is not None
        r = client.post(
            "/api/v1/auth/mfa", json={"mfa_token": body["mfa_token"], "code": totp_now(secret)}
        )
        assert r.status_code == 200, r.text
        tokens = r.json()
    else:
        tokens = body["tokens"]
    return LoggedIn(
        name=name, token=tokens["access_token"], refresh=tokens["refresh_token"], totp_secret=secret
    )


def bind(ctx: ServerContext, role: str, env: str, user: str) -> None:
    """Grant ``role`` in ``env`` to ``user`` directly in the database."""
    from attonix.server.db.models import RoleBinding

    with ctx.db.session() as s:
        s.add(RoleBinding(role=role, environment=env, subject_kind="user", subject=user))


@pytest.fixture
def admin(ctx: ServerContext, client: TestClient) -> LoggedIn:
    """A global administrator with MFA, signed in."""
    secret = add_user(ctx, "root-admin", admin=True, mfa=True)
    return login(client, "root-admin", secret=secret)


class Kit:
    """Helpers handed to tests as a fixture (test modules cannot import conftest)."""

    PASSWORD = PASSWORD
    LoggedIn = LoggedIn

    def __init__(self, ctx: ServerContext, client: TestClient) -> None:
        self.ctx, self.client = ctx, client

    def add_user(self, name: str, *, admin: bool = False, mfa: bool = False) -> str | None:
        """See :func:`add_user`."""
        return add_user(self.ctx, name, admin=admin, mfa=mfa)

    def login(
        self, name: str, *, secret: str | None = None, client: TestClient | None = None
    ) -> LoggedIn:
        """See :func:`login`."""
        return login(client or self.client, name, secret=secret)

    def user(self, name: str, *, roles: dict[str, str] | None = None) -> LoggedIn:
        """Create ``name`` with ``roles`` (env → role), and sign in (MFA when a role needs it)."""
        needs_mfa = any(r in ("admin", "operator") for r in (roles or {}).values())
        secret = self.add_user(name, mfa=needs_mfa)
        for env, role in (roles or {}).items():
            bind(self.ctx, role, env, name)
        return self.login(name, secret=secret)

    def settings(self, **overrides: Any) -> Settings:
        """Test settings with ``overrides``."""
        return make_settings(self.ctx.settings.data_dir, **overrides)


@pytest.fixture
def kit(ctx: ServerContext, client: TestClient) -> Kit:
    """Helpers bound to this test's context and client."""
    return Kit(ctx, client)
