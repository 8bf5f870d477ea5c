"""The Central Server's settings: one pydantic-settings object, built once and passed down.

Every value can be set through an ``ATTONIX_``-prefixed environment variable or a ``.env``
file in the working directory; the defaults give a working embedded server with nothing
else running (SQLite and key files under the user's data directory).
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr
from pydantic.config import JsonDict
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CONSOLE_ORIGIN = "http://127.0.0.1:8081"

#: Marks a setting that every replica of a deployed server must be given (its default is a
#: file created per machine, so replicas would disagree or write to a read-only image).
#: The renderers set each of them, from the blueprint's ``central_server``; a test keeps the
#: two in step.
DEPLOYED: JsonDict = {"deployed": True}


def default_data_dir() -> Path:
    """Where the embedded server keeps its database and keys (the user's data directory)."""
    return Path(platformdirs.user_data_dir("attonix", appauthor=False))


class Settings(BaseSettings):
    """Everything the Central Server can be configured with (env prefix ``ATTONIX_``)."""

    model_config = SettingsConfigDict(
        env_prefix="ATTONIX_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Directory for the embedded SQLite database and generated key files.",
        json_schema_extra=DEPLOYED,
    )
    database_url: str = Field(
        "",
        description="SQLAlchemy URL; empty means the embedded SQLite file in data_dir. "
        "postgresql+psycopg://… or mysql+pymysql://… for production.",
        json_schema_extra=DEPLOYED,
    )
    database_credentials_dir: Path | None = Field(
        None,
        description="Directory with the files 'username' and 'password' (a database's "
        "credentials as Attonix mounts them): they fill in database_url's user and password, "
        "so the URL itself holds no secret.",
        json_schema_extra=DEPLOYED,
    )
    auto_migrate: bool | None = Field(
        None,
        description="Upgrade the schema on start. Default: only for the embedded SQLite database.",
    )
    db_pool_size: int = Field(10, ge=1, le=200, description="Connections per process.")
    db_max_overflow: int = Field(10, ge=0, le=200)
    db_loop_connections: int = Field(
        3,
        ge=1,
        le=200,
        description="PostgreSQL connections per process for the hot reads on the event loop. "
        "Few is faster: each read is short, and more server processes than cores only "
        "queue for the CPU.",
    )

    kek: SecretStr | None = Field(
        None, description="Key-encryption key lines (`id:base64`), newline separated."
    )
    kek_file: Path | None = Field(
        None,
        description="File with key-encryption keys; default data_dir/kek (created).",
        json_schema_extra=DEPLOYED,
    )
    audit_key: SecretStr | None = Field(
        None,
        description="Key of the audit chain's MAC and checkpoint signatures (base64url, 32 "
        "bytes); default: the file audit.key beside the key-encryption-key file (created).",
    )
    audit_key_file: Path | None = Field(
        None,
        description="File holding the audit key (a mounted secret); audit_key wins when set.",
        json_schema_extra=DEPLOYED,
    )
    audit_checkpoint_file: Path | None = Field(
        None,
        description="Where signed audit checkpoints are appended, outside the database; "
        "default data_dir/audit-checkpoints.jsonl.",
    )
    audit_checkpoint_seconds: int = Field(
        300, ge=10, description="How often a signed checkpoint of the audit chain is taken."
    )
    signing_key: SecretStr | None = Field(
        None, description="Access-token signing key; default data_dir/signing.key (created)."
    )
    signing_key_file: Path | None = Field(
        None,
        description="File holding the signing key (a mounted secret); signing_key wins when set.",
        json_schema_extra=DEPLOYED,
    )
    previous_signing_keys: list[SecretStr] = Field(
        default_factory=list, description="Older signing keys still accepted during rotation."
    )
    issuer: str = "attonix"
    audience: str = "attonix-api"
    access_ttl_seconds: int = Field(600, ge=30, le=86400)
    refresh_ttl_seconds: int = Field(7 * 86400, ge=300)
    mfa_challenge_seconds: int = Field(300, ge=30, le=3600)

    login_max_failures: int = Field(5, ge=1, description="Failures before an account locks.")
    login_lockout_seconds: int = Field(300, ge=1)
    login_ip_max_attempts: int = Field(
        30, ge=1, description="Login attempts per source address per window."
    )
    login_ip_window_seconds: int = Field(60, ge=1)
    sensitive_max_attempts: int = Field(
        5,
        ge=1,
        description="Attempts per account per window at a password change, an API token "
        "creation or an MFA enrolment.",
    )
    reauth_seconds: int = Field(
        900,
        ge=30,
        description="How recent a sign-in must be to create an API token or enrol MFA "
        "without giving the current password again.",
    )
    password_min_length: int = Field(12, ge=8)

    oidc_issuer: str = Field(
        "", description="OpenID Connect issuer URL for single sign-on; empty disables it."
    )
    oidc_client_id: str = Field("", description="This server's client id at the issuer.")
    oidc_client_secret: SecretStr | None = Field(
        None, description="Client secret (client_secret_basic); none for a public client."
    )
    oidc_redirect_uri: str = Field(
        "", description="Where the issuer sends the browser back: the console's callback page."
    )
    oidc_scopes: str = "openid profile email"
    oidc_username_claim: str = Field(
        "preferred_username", description="ID-token claim that names the local account."
    )
    oidc_state_seconds: int = Field(600, ge=60, le=3600)

    cors_origins: list[str] = Field(
        default_factory=lambda: [DEFAULT_CONSOLE_ORIGIN],
        description="Origins allowed to call the API from a browser (the console).",
    )
    max_body_bytes: int = Field(5 * 1024 * 1024, ge=1024, description="Larger requests get 413.")
    tls: bool = Field(False, description="Set when served over TLS (enables HSTS).")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed; empty: the connection's peer is the client.",
    )

    run_workers: bool = Field(True, description="Run the job worker inside the API process.")
    worker_poll_seconds: float = Field(1.0, gt=0)
    job_stale_seconds: int = Field(
        60, ge=5, description="Heartbeat age after which a job is retried."
    )
    pki_rotate_seconds: int = Field(
        3600, ge=60, description="How often certificates are checked and renewed before expiry."
    )
    shutdown_drain_seconds: float = Field(
        6.0,
        ge=0,
        le=300,
        description="On SIGTERM, how long /readyz fails while requests are still served, so the "
        "load balancer's health checks (rendered: every 2 s, down after 3) take the replica out "
        "before it stops accepting connections.",
    )
    two_person_rule: list[str] = Field(
        default_factory=lambda: ["prod"],
        description="Environments where a deployment's approver must differ from its requester.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def effective_database_url(self) -> str:
        """The database to use: the configured URL, else the embedded SQLite file."""
        if self.database_url and self.database_credentials_dir is not None:
            from sqlalchemy.engine import make_url  # noqa: PLC0415 - only when deployed

            folder = self.database_credentials_dir
            url = make_url(self.database_url).set(
                username=(folder / "username").read_text(encoding="utf-8").strip(),
                password=(folder / "password").read_text(encoding="utf-8").strip(),
            )
            return url.render_as_string(hide_password=False)
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'attonix.db'}"

    @property
    def embedded(self) -> bool:
        """True when the server uses its embedded SQLite database."""
        return self.effective_database_url().startswith("sqlite")

    @property
    def should_auto_migrate(self) -> bool:
        """Whether to upgrade the schema on start (the embedded database does by default)."""
        return self.embedded if self.auto_migrate is None else self.auto_migrate

    def kek_path(self) -> Path:
        """The key-encryption-key file in use."""
        return self.kek_file or self.data_dir / "kek"

    def checkpoint_path(self) -> Path:
        """The file signed audit checkpoints are appended to."""
        return self.audit_checkpoint_file or self.data_dir / "audit-checkpoints.jsonl"

    def resolve_audit_key(self) -> bytes:
        """The audit key: configured, else read (or created once) beside the KEK file."""
        if self.audit_key is not None:
            text = self.audit_key.get_secret_value().strip()
        elif self.audit_key_file is not None:
            text = self.audit_key_file.read_text(encoding="utf-8").strip()
        else:
            path = self.kek_path().with_name("audit.key")
            if not path.exists():
                create_key_once(path, base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
            if path.stat().st_mode & 0o077:
                raise ValueError(f"{path} is readable by others: chmod 600 it")
            text = path.read_text(encoding="utf-8").strip()
        try:
            key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except ValueError:
            key = b""
        if len(key) < 32:
            raise ValueError("the audit key must be 32 bytes or more, base64url")
        return key

    def resolve_signing_key(self) -> str:
        """The token signing key: configured, else read (or created once) in data_dir."""
        if self.signing_key is not None:
            return self.signing_key.get_secret_value()
        if self.signing_key_file is not None:
            return self.signing_key_file.read_text(encoding="utf-8").strip()
        path = self.data_dir / "signing.key"
        if not path.exists():
            create_key_once(path, secrets.token_urlsafe(48))
        return path.read_text(encoding="utf-8").strip()


def _write_private(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only; never overwrite an existing key."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")


def create_key_once(path: Path, text: str) -> None:
    """Publish a new key file at ``path`` unless one is already there.

    Several workers (or threads) starting at once may all find the key missing: each writes
    its candidate to a private file of its own and hard-links it into place, which succeeds
    for exactly one of them; the others keep the published key. A reader therefore never
    sees a key file that is half written.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    candidate = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}")
    _write_private(candidate, text)
    try:
        os.link(candidate, path)
    except FileExistsError:
        pass
    finally:
        candidate.unlink()
