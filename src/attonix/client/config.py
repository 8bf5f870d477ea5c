"""Contexts, like kubectl's: which Central Server, as whom, in which environment.

The file lives at ``$ATTONIX_CONFIG``, else ``$XDG_CONFIG_HOME/attonix/config.yaml``, else
``~/.config/attonix/config.yaml``. It holds tokens, so it is written with mode 0600 (its
folder 0700), atomically (a temporary file renamed over it), and a file that others can read
is refused rather than used. Nothing here prints a token; :meth:`Context.public` is what may
be shown.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from attonix.client.errors import ClientError, NotSignedIn

#: Environment variable naming the contexts file (tests and several identities use it).
CONFIG_ENV = "ATTONIX_CONFIG"
#: Environment variable choosing a context for one command, without ``context use``.
CONTEXT_ENV = "ATTONIX_CONTEXT"


def config_path(environ: dict[str, str] | None = None) -> Path:
    """Where the contexts file is (it need not exist yet)."""
    env = os.environ if environ is None else environ
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "attonix" / "config.yaml"


@dataclass(frozen=True)
class Credentials:
    """A session (access and rotating refresh token) or an API token."""

    kind: str  # "session" | "api-token"
    access_token: str
    refresh_token: str = ""

    def __repr__(self) -> str:
        # Never a token in a repr: reprs reach tracebacks and debug output.
        return f"Credentials(kind={self.kind!r}, access_token=***)"


@dataclass(frozen=True)
class Context:
    """One named way to reach a Central Server."""

    name: str
    server: str
    user: str = ""
    environment: str = ""
    ca_cert: str = ""
    credentials: Credentials | None = field(default=None, repr=False)

    def public(self) -> dict[str, Any]:
        """What may be shown: everything but the tokens."""
        return {
            "name": self.name,
            "server": self.server,
            "user": self.user,
            "environment": self.environment,
            "ca_cert": self.ca_cert,
            "auth": self.credentials.kind if self.credentials else "none",
        }

    def with_credentials(self, credentials: Credentials | None) -> Context:
        """The same context with other credentials."""
        return replace(self, credentials=credentials)


@dataclass
class Config:
    """Every context and which one is current."""

    contexts: dict[str, Context] = field(default_factory=dict)
    current: str = ""
    path: Path = field(default_factory=config_path)

    @classmethod
    def load(cls, path: Path | None = None) -> Config:
        """Read the file (an absent file is an empty configuration)."""
        import yaml  # noqa: PLC0415

        where = path or config_path()
        try:
            info = where.stat()
        except FileNotFoundError:
            return cls(path=where)
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ClientError(
                f"{where} can be read by other users, and it holds tokens",
                hint=f"Run: chmod 600 {where}",
            )
        try:
            doc = yaml.safe_load(where.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ClientError(
                f"cannot read {where}: {type(exc).__name__}",
                hint="Fix or remove the file, then run attonix login again.",
            ) from None
        if not isinstance(doc, dict):
            raise ClientError(f"{where} is not a contexts file", hint="Remove it and log in.")
        contexts: dict[str, Context] = {}
        for name, raw in (doc.get("contexts") or {}).items():
            if not isinstance(raw, dict) or not raw.get("server"):
                continue
            auth = raw.get("auth") or {}
            creds = (
                Credentials(
                    kind=str(auth.get("kind", "session")),
                    access_token=str(auth["access_token"]),
                    refresh_token=str(auth.get("refresh_token", "")),
                )
                if auth.get("access_token")
                else None
            )
            contexts[str(name)] = Context(
                name=str(name),
                server=str(raw["server"]),
                user=str(raw.get("user", "")),
                environment=str(raw.get("environment", "")),
                ca_cert=str(raw.get("ca_cert", "")),
                credentials=creds,
            )
        return cls(contexts=contexts, current=str(doc.get("current-context", "")), path=where)

    def save(self) -> None:
        """Write the file atomically with mode 0600 (its folder 0700)."""
        import yaml  # noqa: PLC0415

        doc: dict[str, Any] = {"current-context": self.current, "contexts": {}}
        for name, c in sorted(self.contexts.items()):
            entry: dict[str, Any] = {"server": c.server}
            for key in ("user", "environment", "ca_cert"):
                if getattr(c, key):
                    entry[key] = getattr(c, key)
            if c.credentials is not None:
                entry["auth"] = {
                    "kind": c.credentials.kind,
                    "access_token": c.credentials.access_token,
                }
                if c.credentials.refresh_token:
                    entry["auth"]["refresh_token"] = c.credentials.refresh_token
            doc["contexts"][name] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".config-", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(yaml.safe_dump(doc, sort_keys=False))
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def resolve(self, name: str | None = None) -> Context:
        """The context to use: ``name``, else ``$ATTONIX_CONTEXT``, else the current one."""
        chosen = name or os.environ.get(CONTEXT_ENV) or self.current
        if not chosen:
            raise NotSignedIn(
                "no Central Server context is in use",
                hint="Run: attonix login https://SERVER (or attonix context use NAME).",
            )
        if chosen not in self.contexts:
            known = ", ".join(sorted(self.contexts)) or "none"
            raise NotSignedIn(
                f"no context named {chosen!r} (known: {known})",
                hint="Run attonix context list, or attonix login SERVER --context NAME.",
            )
        return self.contexts[chosen]

    def put(self, context: Context) -> None:
        """Add or replace ``context``."""
        self.contexts[context.name] = context
