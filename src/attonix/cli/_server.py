"""CLI commands of the Central Server: serve, up, worker, db, users, audit, vault, backup, openapi.

Every command builds the one ``Settings`` object (ATTONIX_* variables, .env) and calls the
same service functions as the API. Server modules are imported inside the commands so that
`attonix validate` and friends never pay for (or need) the server's dependencies.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

import typer

from attonix.cli import _remote_work
from attonix.cli._common import (
    EXIT_FINDINGS,
    deprecated,
    fail,
    guarded,
    output_choice,
    print_document,
    stderr,
    stdout,
    usage,
)

_SERVER_HINT = "Install the server extra: pip install 'attonix[server]'."


def _settings(**overrides: Any) -> Any:
    try:
        from attonix.server.settings import Settings  # noqa: PLC0415
    except ImportError:
        fail("the Central Server's dependencies are not installed", hint=_SERVER_HINT)
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _ctx(settings: Any, *, migrate_ok: bool = False) -> Any:
    from attonix.server.app import prepare_database  # noqa: PLC0415
    from attonix.server.context import build_context  # noqa: PLC0415

    ctx = build_context(settings)
    if not migrate_ok:
        prepare_database(ctx)
    return ctx


def _system() -> Any:
    from attonix.server.audit import Actor  # noqa: PLC0415

    return Actor(name="cli", source_ip="local")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("serve", rich_help_panel="Central Server")(serve)
    app.command("up", rich_help_panel="Central Server")(up)
    app.command("worker", rich_help_panel="Central Server")(worker)
    app.command("openapi", rich_help_panel="Central Server")(openapi)
    app.command("backup", rich_help_panel="Central Server")(backup)
    app.command("restore", rich_help_panel="Central Server")(restore)
    db = typer.Typer(help="The Central Server's database schema.", no_args_is_help=True)
    db.command("upgrade")(db_upgrade)
    app.add_typer(db, name="db", rich_help_panel="Central Server")
    users = typer.Typer(help="Central Server accounts.", no_args_is_help=True)
    users.command("create-admin")(users_create_admin)
    users.command("list")(users_list)
    users.command("reset-password")(users_reset_password)
    users.command("disable")(users_disable)
    users.command("unlock")(users_unlock)
    app.add_typer(users, name="users", rich_help_panel="Central Server")
    audit = typer.Typer(
        help="The hash-chained audit trail: read it over the API (log); verify, export, key it.",
        no_args_is_help=True,
    )
    audit.command("verify")(audit_verify)
    audit.command("checkpoint")(audit_checkpoint)
    audit.command("adopt")(audit_adopt)
    audit.command("new-key")(audit_new_key)
    audit.command("export")(audit_export)
    audit.command("log")(_remote_work.audit_log)
    app.add_typer(audit, name="audit", rich_help_panel="Central Server")
    vault = typer.Typer(help="The secrets vault's keys.", no_args_is_help=True)
    vault.command("new-kek")(vault_new_kek)
    vault.command("rotate")(vault_rotate)
    app.add_typer(vault, name="vault", rich_help_panel="Central Server")


_OutputFile = typer.Option(
    None, "--output-file", metavar="PATH", help="Write to PATH instead of stdout."
)
_LegacyOutput = typer.Option(None, "-o", "--output", hidden=True, help="Deprecated: --output-file.")


def _output_file(new: Path | None, legacy: Path | None) -> Path | None:
    """--output-file, or the old ``-o PATH`` with a warning (-o now names formats)."""
    if legacy is not None:
        if new is not None:
            usage("-o and --output-file both given", hint="Use --output-file PATH alone.")
        deprecated(f"-o {legacy} (meaning a file)", f"--output-file {legacy}")
        return legacy
    return new


@guarded
def openapi(
    output_file: Path | None = _OutputFile,
    legacy_output: Path | None = _LegacyOutput,
) -> None:
    """Print the Central Server's OpenAPI document (the console's client is generated from it).

    \b
    Examples:
      attonix openapi > openapi.json
      attonix openapi --output-file frontend/openapi.json
    """
    import json  # noqa: PLC0415

    from attonix.server.app import openapi_document  # noqa: PLC0415

    output = _output_file(output_file, legacy_output)
    text = json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _run_uvicorn(
    settings: Any,
    *,
    host: str,
    port: int,
    workers: int,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> None:
    import uvicorn  # noqa: PLC0415

    from attonix.server.app import create_app  # noqa: PLC0415

    if (tls_cert is None) != (tls_key is None):
        fail("--tls-cert and --tls-key go together", code=2)
    ssl: dict[str, Any] = (
        {"ssl_certfile": str(tls_cert), "ssl_keyfile": str(tls_key)} if tls_cert else {}
    )
    if workers > 1:
        # Several processes: each builds its own app from the environment (uvicorn factory).
        import os  # noqa: PLC0415

        os.environ["ATTONIX_TLS"] = "true" if tls_cert else os.environ.get("ATTONIX_TLS", "false")
        uvicorn.run(
            "attonix.server.asgi:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # the app honours forwarded headers from trusted proxies only
            **ssl,
        )
        return
    from attonix.server.serving import serve  # noqa: PLC0415

    serve(
        create_app(settings),
        drain_seconds=settings.shutdown_drain_seconds,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # the app honours forwarded headers from trusted proxies only
        **ssl,
    )


@guarded
def serve(
    host: str = typer.Option("127.0.0.1", metavar="ADDRESS", help="Address to listen on."),
    port: int = typer.Option(8080, metavar="PORT", help="Port to listen on."),
    workers: int = typer.Option(1, min=1, max=64, metavar="N", help="Worker processes."),
    tls_cert: Path | None = typer.Option(
        None, metavar="PEM", help="PEM certificate (enables HTTPS and HSTS)."
    ),
    tls_key: Path | None = typer.Option(None, metavar="PEM", help="PEM private key of --tls-cert."),
) -> None:
    """Run the Central Server (embedded SQLite unless ATTONIX_DATABASE_URL is set).

    \b
    Examples:
      attonix serve
      ATTONIX_DATABASE_URL=postgresql+psycopg://attonix@db/attonix attonix serve --workers 2
      attonix serve --host 0.0.0.0 --tls-cert api.pem --tls-key api-key.pem
    """
    settings = _settings(tls=True if tls_cert else None)
    ctx = _ctx(settings)  # refuse an outdated schema before binding the port
    ctx.db.dispose()
    stderr().print(f"Attonix Central Server on http{'s' if tls_cert else ''}://{host}:{port}")
    _run_uvicorn(
        settings, host=host, port=port, workers=workers, tls_cert=tls_cert, tls_key=tls_key
    )


@guarded
def up(
    blueprint: str = typer.Argument(
        "examples/attonixcorp.yaml",
        metavar="FILE",
        help="Blueprint to import as the environment; '-' reads it from stdin.",
    ),
    file_opt: str | None = typer.Option(
        None, "--file", "-f", metavar="FILE", help="The blueprint, as with FILE."
    ),
    environment: str = typer.Option("prod", metavar="NAME", help="Environment to import it into."),
    admin: str = typer.Option("admin", metavar="NAME", help="Name of the bootstrap administrator."),
    host: str = typer.Option("127.0.0.1", metavar="ADDRESS", help="Address to listen on."),
    port: int = typer.Option(8080, metavar="PORT", help="Port to listen on."),
) -> None:
    """Start the Central Server with BLUEPRINT imported and an administrator (first run only).

    \b
    Examples:
      attonix up examples/attonixcorp.yaml
      attonix up -f datacenter.yaml --environment staging --port 9090
    """
    import tempfile  # noqa: PLC0415

    from attonix.server.bootstrap import bootstrap  # noqa: PLC0415

    path = file_opt if file_opt is not None else blueprint
    settings = _settings()
    ctx = _ctx(settings)
    with tempfile.TemporaryDirectory(prefix="attonix-up-") as tmp:
        source = Path(path)
        if path == "-":
            source = Path(tmp) / "stdin.yaml"
            source.write_text(sys.stdin.read(), encoding="utf-8")
        report = bootstrap(ctx, blueprint=source, environment=environment, admin=admin)
    out = stdout()
    if report.admin_password:
        out.print(f"Administrator [bold]{admin}[/]  one-time password: {report.admin_password}")
        out.print("  (shown once; change it at first sign-in, then enrol MFA)")
    for line in report.lines:
        out.print(line)
    ctx.db.dispose()
    _run_uvicorn(settings, host=host, port=port, workers=1, tls_cert=None, tls_key=None)


@guarded
def worker(
    health_port: int | None = typer.Option(
        None,
        "--health-port",
        metavar="PORT",
        envvar="ATTONIX_WORKER_HEALTH_PORT",
        min=1,
        max=65535,
        help="Serve GET /healthz on this port: 200 while the job loop ticks, 503 when stalled.",
    ),
) -> None:
    """Run a job worker process (any number may run against the same database).

    \b
    Examples:
      attonix worker
      attonix worker --health-port 9000
      ATTONIX_DATABASE_URL=postgresql+psycopg://attonix@db/attonix attonix worker
    """
    from attonix.server.jobs import BackgroundWorker  # noqa: PLC0415
    from attonix.server.worker_health import HealthServer  # noqa: PLC0415

    ctx = _ctx(_settings())
    w = BackgroundWorker(ctx)
    health = None
    if health_port is not None:
        try:
            health = HealthServer(w, port=health_port)
        except OSError as exc:
            usage(
                f"--health-port {health_port}: cannot listen ({exc.strerror or exc}).",
                hint="Choose a free port (or unset ATTONIX_WORKER_HEALTH_PORT).",
            )
        health.start()
        stderr().print(f"Health check on http://0.0.0.0:{health.port}/healthz")
    stderr().print("Attonix worker polling for jobs (Ctrl-C or SIGTERM to stop)")
    # A graceful stop: claim nothing more, finish the job in hand, give up the leader lock.
    signal.signal(signal.SIGTERM, lambda *_: w.request_stop())
    with contextlib.suppress(KeyboardInterrupt):
        w.loop()
    w.close()
    if health is not None:
        health.close()


@guarded
def db_upgrade() -> None:
    """Apply pending schema migrations (idempotent).

    \b
    Examples:
      attonix db upgrade
    """
    from attonix.server.db import migrate  # noqa: PLC0415

    ctx = _ctx(_settings(), migrate_ok=True)
    state = migrate.upgrade(ctx.db)
    stdout().print(f"schema at revision {state.current} ({ctx.db.dialect})")


@guarded
def users_create_admin(
    name: str = typer.Argument(..., metavar="NAME", help="Account name."),
) -> None:
    """Create a global administrator and print its one-time password (once).

    \b
    Examples:
      attonix users create-admin alice
    """
    from attonix.server.auth import users  # noqa: PLC0415

    created = users.create_admin(_ctx(_settings()), name=name, actor=_system())
    stdout().print(f"Administrator {name} created. One-time password: {created.one_time_password}")
    stderr().print("Change it at first sign-in; MFA enrolment follows.")


@guarded
def users_list(
    output: str | None = typer.Option(
        None, "--output", "-o", metavar="FORMAT", help="Output format: text|json|yaml."
    ),
    as_json: bool = typer.Option(False, "--json", hidden=True, help="Deprecated: -o json."),
) -> None:
    """List accounts.

    \b
    Examples:
      attonix users list
      attonix users list -o json
    """
    from attonix.server.auth import users  # noqa: PLC0415

    if as_json:
        deprecated("--json", "-o json")
        output = output or "json"
    fmt = output_choice(output, choices=("text", "json", "yaml"), default="text")
    rows = users.list_users(_ctx(_settings()))
    if fmt != "text":
        print_document([r.model_dump(mode="json") for r in rows], fmt)
        return
    for u in rows:
        flags = [f for f, on in (("admin", u.is_admin), ("disabled", u.disabled)) if on]
        stdout().print(f"{u.name:20} {u.email:30} {','.join(u.groups):20} {' '.join(flags)}")


@guarded
def users_reset_password(name: str = typer.Argument(..., metavar="NAME")) -> None:
    """Give an account a new one-time password (printed once) and end its sessions.

    \b
    Examples:
      attonix users reset-password bob
    """
    from attonix.server.auth import users  # noqa: PLC0415

    out = users.reset_password(_ctx(_settings()), name, actor=_system())
    stdout().print(f"One-time password for {name}: {out.one_time_password}")


@guarded
def users_disable(name: str = typer.Argument(..., metavar="NAME")) -> None:
    """Disable an account (its sessions end at once).

    \b
    Examples:
      attonix users disable bob
    """
    from attonix.server.auth import users  # noqa: PLC0415

    users.update_user(_ctx(_settings()), name, disabled=True, actor=_system())
    stdout().print(f"{name} disabled")


@guarded
def users_unlock(name: str = typer.Argument(..., metavar="NAME")) -> None:
    """Lift a sign-in lockout.

    \b
    Examples:
      attonix users unlock bob
    """
    from attonix.server.auth import users  # noqa: PLC0415

    users.update_user(_ctx(_settings()), name, unlock=True, actor=_system())
    stdout().print(f"{name} unlocked")


@guarded
def audit_verify(
    checkpoints: Path | None = typer.Option(
        None,
        "--checkpoints",
        help="Signed checkpoints to check the chain against "
        "(default: ATTONIX_AUDIT_CHECKPOINT_FILE, DATA_DIR/audit-checkpoints.jsonl).",
    ),
) -> None:
    """Recompute the MAC chain and check it against the signed checkpoints kept outside the
    database; exit 1 and name each edited, deleted or re-sealed entry and a cut-off end.

    \b
    Examples:
      attonix audit verify
      attonix audit verify --checkpoints /var/log/attonix/audit-checkpoints.jsonl
    """
    from attonix.server import audit  # noqa: PLC0415

    settings = _settings()
    ctx = _ctx(settings)
    with ctx.db.session() as s:
        result = audit.verify(s, checkpoint_file=checkpoints or settings.checkpoint_path())
    for w in result.warnings:
        stderr().print(f"warning: {w}", markup=False)
    if result.ok:
        stdout().print(
            f"audit chain intact: {result.checked} entries, {result.checkpoints} checkpoint(s) "
            f"in {result.seconds:.1f} s ({result.rate:,.0f} entries/s)"
        )
        return
    for p in result.problems:
        stderr().print(f"entry {p['seq']}: {p['problem']}", markup=False)
    fail(f"the audit chain is broken ({len(result.problems)} problem(s))", code=EXIT_FINDINGS)


@guarded
def audit_new_key() -> None:
    """Print a new audit key (32 random bytes, base64url) for ATTONIX_AUDIT_KEY on every
    replica; keep it with the key-encryption keys, never in the database.

    \b
    Examples:
      attonix audit new-key
    """
    import base64  # noqa: PLC0415
    import secrets  # noqa: PLC0415

    stdout().print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(), markup=False)


@guarded
def audit_adopt() -> None:
    """Re-seal, once, an audit chain written before keyed chaining, after checking it is
    intact (needs the audit key; recorded as audit.adopt with the old head).

    \b
    Examples:
      attonix audit adopt
    """
    from attonix.server import audit  # noqa: PLC0415

    ctx = _ctx(_settings())
    with ctx.db.session() as s:
        count = audit.adopt(s, _system())
    stdout().print(f"{count} entries re-sealed with the audit key")


@guarded
def audit_checkpoint() -> None:
    """Sign the audit chain's head now and append it to the checkpoint file (the server also
    does so every ATTONIX_AUDIT_CHECKPOINT_SECONDS).

    \b
    Examples:
      attonix audit checkpoint
    """
    from attonix.server import audit  # noqa: PLC0415

    settings = _settings()
    ctx = _ctx(settings)
    with ctx.db.session() as s:
        cp = audit.take_checkpoint(s, path=settings.checkpoint_path())
    if cp is None:
        stdout().print("the audit chain is empty: no checkpoint")
        return
    stdout().print(f"checkpoint of entry {cp.seq} appended to {settings.checkpoint_path()}")


@guarded
def audit_export(
    output_file: Path | None = _OutputFile,
    legacy_output: Path | None = _LegacyOutput,
) -> None:
    """Export the audit chain as JSON lines.

    \b
    Examples:
      attonix audit export > audit.jsonl
      attonix audit export --output-file audit.jsonl
    """
    from attonix.server import audit  # noqa: PLC0415

    output = _output_file(output_file, legacy_output)
    ctx = _ctx(_settings())
    with ctx.db.session() as s:
        if output is None:
            for line in audit.export_lines(s):
                sys.stdout.write(line)
            return
        with output.open("w", encoding="utf-8") as fh:
            fh.writelines(audit.export_lines(s))


@guarded
def vault_new_kek(
    kek_id: str | None = typer.Option(None, "--id", metavar="ID", help="Key id."),
) -> None:
    """Print a new key-encryption-key line; append it to the key file, then run `vault rotate`.

    \b
    Examples:
      attonix vault new-kek >> /etc/attonix/keks
      attonix vault new-kek --id 2026-q4 >> /etc/attonix/keks && attonix vault rotate
    """
    from attonix.server.security.envelope import KeyRing  # noqa: PLC0415

    sys.stdout.write(KeyRing.generate_line(kek_id) + "\n")


@guarded
def vault_rotate() -> None:
    """Re-wrap every secret's data key with the active (last) key; the server keeps serving.

    \b
    Examples:
      attonix vault rotate
    """
    from attonix.server import vault  # noqa: PLC0415

    result = vault.rotate(_ctx(_settings()), actor=_system())
    stdout().print(f"{result.rewrapped} secret(s) re-wrapped with key {result.active_kek}")


@guarded
def backup(
    output_file: Path | None = typer.Option(
        None, "--output-file", metavar="PATH", help="Archive file to write."
    ),
    legacy_output: Path | None = _LegacyOutput,
    passphrase_env: str = typer.Option(
        "ATTONIX_BACKUP_PASSPHRASE",
        metavar="VAR",
        help="Environment variable holding the passphrase.",
    ),
) -> None:
    """Write one encrypted, checksummed archive of the whole server state.

    The passphrase comes from an environment variable, never the command line.

    \b
    Examples:
      attonix backup --output-file attonix-2026-11-29.bak
      attonix backup --output-file nightly.bak --passphrase-env NIGHTLY_PASSPHRASE
    """
    import attonix.server.backup as backups  # noqa: PLC0415

    output = _output_file(output_file, legacy_output)
    if output is None:
        usage("where to? --output-file PATH is required", hint="attonix backup --output-file FILE")
    passphrase = _passphrase(passphrase_env)
    info = backups.backup(_ctx(_settings()), output=output, passphrase=passphrase)
    stdout().print(f"backup written to {output}: {info}")


@guarded
def restore(
    archive: Path = typer.Argument(..., metavar="ARCHIVE", help="Written by `attonix backup`."),
    passphrase_env: str = typer.Option(
        "ATTONIX_BACKUP_PASSPHRASE",
        metavar="VAR",
        help="Environment variable holding the passphrase.",
    ),
) -> None:
    """Restore an archive into an empty database (any engine); the audit chain must verify.

    \b
    Examples:
      attonix restore attonix-2026-11-29.bak
    """
    import attonix.server.backup as backups  # noqa: PLC0415

    passphrase = _passphrase(passphrase_env)
    info = backups.restore(_ctx(_settings()), archive=archive, passphrase=passphrase)
    stdout().print(f"restored: {info}")


def _passphrase(var: str) -> str:
    import os  # noqa: PLC0415

    value = os.environ.get(var, "")
    if not value:
        fail(f"set the backup passphrase in ${var}", hint="Never pass it on the command line.")
    return value
