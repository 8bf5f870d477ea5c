"""Signing in to a Central Server and choosing where remote commands go.

``attonix login SERVER`` (password and second factor, or ``--token``) stores a *context*
like kubectl's: the server, the user, a default environment and the credentials, in the
contexts file (mode 0600). ``attonix context list|current|use|set|delete`` manage them.
A token is never printed: not in output, ``--verbose`` lines or errors.

Every import of the client (and httpx) happens inside the commands.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer

from attonix.cli._common import (
    fail,
    guarded,
    output_choice,
    print_document,
    stderr,
    usage,
    warn,
)
from attonix.cli._options import output_option

if TYPE_CHECKING:
    from attonix.client.api import Client
    from attonix.client.config import Config, Context

FORMATS = ("text", "json", "yaml")

ContextOpt = Annotated[
    str | None,
    typer.Option(
        "--context",
        metavar="NAME",
        help="Use this context instead of the current one ($ATTONIX_CONTEXT also works).",
    ),
]
VerboseOpt = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Print each request (method, URL, status, time) to stderr; tokens never appear.",
    ),
]
Output = Annotated[str | None, output_option(FORMATS, "text")]


def client_modules() -> Any:
    """``attonix.client.api``, or exit 3 with the install hint when httpx is missing."""
    try:
        from attonix.client import api  # noqa: PLC0415
    except ModuleNotFoundError as exc:
        if exc.name != "httpx":
            raise
        fail(
            "talking to a Central Server needs httpx, which is not installed",
            hint="pip install 'attonix[client]'",
        )
    return api


def _trace(verbose: bool) -> Any:
    if not verbose:
        return None
    err = stderr()
    return lambda line: err.print(f"[dim]> {line}[/]", markup=True, highlight=False)


def open_client(context: Context, *, verbose: bool = False, config: Config | None = None) -> Client:
    """A client for ``context``; a refreshed session is saved back to the contexts file."""
    api = client_modules()
    from attonix.client.config import Config  # noqa: PLC0415
    from attonix.client.errors import NotSignedIn  # noqa: PLC0415

    if context.credentials is None:
        raise NotSignedIn(
            f"context {context.name!r} has no credentials (logged out)",
            hint=f"Run: attonix login {context.server} --context {context.name}",
        )

    def save(credentials: Any) -> None:
        latest = Config.load(config.path if config is not None else None)
        if context.name in latest.contexts:
            latest.put(latest.contexts[context.name].with_credentials(credentials))
            latest.save()

    client: Client = api.Client(
        context.server,
        credentials=context.credentials,
        ca_cert=context.ca_cert,
        on_refresh=save,
        trace=_trace(verbose),
    )
    return client


def connect(context_name: str | None, *, verbose: bool) -> tuple[Client, Context]:
    """The chosen context and a client for it."""
    from attonix.client.config import Config  # noqa: PLC0415

    config = Config.load()
    context = config.resolve(context_name)
    return open_client(context, verbose=verbose, config=config), context


def environment_of(context: Context, env: str | None) -> str:
    """``-e ENV``, else the context's environment; a usage error when neither is set."""
    chosen = env or context.environment
    if not chosen:
        usage(
            f"which environment? context {context.name!r} has none and -e was not given",
            hint=f"Pass -e ENV, or run: attonix context set {context.name} --env ENV",
        )
    return chosen


def _server_url(server: str) -> str:
    """``SERVER`` as a base URL: https:// unless a scheme is given, no trailing slash."""
    url = server.strip().rstrip("/")
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        usage(
            f"{server!r} is not a server address",
            hint="Give it as https://HOST[:PORT] (or HOST[:PORT]).",
        )
    if parts.path not in ("", "/"):
        usage(
            f"{server!r} has a path; give the server's address only",
            hint=f"attonix login {parts.scheme}://{parts.netloc}",
        )
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        warn(f"{url} is plain HTTP: your password and tokens would cross the network unencrypted")
    return url


def _default_name(url: str) -> str:
    netloc = urlsplit(url).netloc
    return re.sub(r"[^A-Za-z0-9._-]+", "-", netloc).strip("-") or "default"


def _read_secret(label: str, from_stdin: bool) -> str:
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    else:
        value = str(typer.prompt(label, hide_input=True))
    if not value:
        usage(f"no {label.lower()} was given")
    return value


@guarded
def login(
    server: Annotated[str, typer.Argument(metavar="SERVER", help="https://HOST[:PORT]")],
    username: Annotated[
        str | None, typer.Option("--username", "-u", help="Your user name (asked if omitted).")
    ] = None,
    token: Annotated[
        bool,
        typer.Option(
            "--token",
            help="Sign in with an API token (asked for hidden, or read from stdin with "
            "--password-stdin) instead of a password.",
        ),
    ] = False,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password (or the API token) from the first line of stdin.",
        ),
    ] = False,
    context_name: Annotated[
        str | None,
        typer.Option("--context", metavar="NAME", help="Name of the context (default: HOST-PORT)."),
    ] = None,
    env: Annotated[
        str | None,
        typer.Option("--env", "-e", help="Default environment for remote commands."),
    ] = None,
    ca_cert: Annotated[
        str | None,
        typer.Option(
            "--ca-cert", metavar="FILE", help="PEM of the CA that signed the server's certificate."
        ),
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Sign in to a Central Server and make it the current context.

    Asks for the password, then for the code of your authenticator app (TOTP) when your
    account has a second factor; or, with --token, for an API token. The tokens are kept in
    the contexts file ($ATTONIX_CONFIG, else ~/.config/attonix/config.yaml) with mode 0600
    and are never printed. An expired session is renewed on its own while its refresh token
    lasts; after that, log in again.

    \b
    Examples:
      attonix login https://attonix.example.com -u ada -e staging
      attonix login attonix.example.com:8443 --ca-cert corp-ca.pem --context prod -e prod
      attonix login https://attonix.example.com --token --password-stdin < token.txt
    """
    api = client_modules()
    from attonix.client.config import Config, Context, Credentials  # noqa: PLC0415

    url = _server_url(server)
    config = Config.load()
    name = context_name or _default_name(url)
    trace = _trace(verbose)
    if token:
        if username:
            usage("--token and --username contradict: an API token names its owner")
        secret = _read_secret("API token", password_stdin)
        creds = Credentials(kind="api-token", access_token=secret)
    else:
        user = username or str(typer.prompt("Username"))
        password = _read_secret("Password", password_stdin)
        with api.Client(url, ca_cert=ca_cert or "", trace=trace) as anon:
            first = anon.login(user, password)
            tokens = first.tokens
            if first.mfa_required:
                code = str(typer.prompt("Authenticator code (or a recovery code)")).strip()
                tokens = anon.login_mfa(first.mfa_token or "", code)
        assert tokens is not None  # the API answers tokens or a challenge
        creds = Credentials(
            kind="session", access_token=tokens.access_token, refresh_token=tokens.refresh_token
        )
        if tokens.restricted == "password_change":
            warn("your password is a one-time password: change it in the console first")
        elif tokens.restricted:
            warn("your role needs a second factor: enrol one in the console first")
    with api.Client(url, credentials=creds, ca_cert=ca_cert or "", trace=trace) as authed:
        me = authed.me()
        if env:
            authed.environment(env)  # refuses an unknown or invisible environment now
    previous = config.contexts.get(name)
    config.put(
        Context(
            name=name,
            server=url,
            user=me.name,
            environment=env or (previous.environment if previous else ""),
            ca_cert=ca_cert or "",
            credentials=creds,
        )
    )
    config.current = name
    config.save()
    chosen = config.contexts[name].environment
    where = f", environment {chosen!r}" if chosen else ""
    typer.echo(f"Logged in to {url} as {me.name} (context {name!r}{where}).")
    if not chosen:
        visible = ", ".join(a.environment for a in me.environments) or "none yet"
        typer.echo(
            f"Environments you have a role in: {visible}. "
            f"Pick one: attonix context set {name} --env ENV (or -e ENV per command)."
        )


@guarded
def logout(context_name: ContextOpt = None, verbose: VerboseOpt = False) -> None:
    """End the session on the server and forget its tokens (the context stays).

    An API token is only forgotten here; revoke it in the console to end it.

    \b
    Examples:
      attonix logout
      attonix logout --context prod
    """
    from attonix.client.config import Config  # noqa: PLC0415
    from attonix.client.errors import ClientError  # noqa: PLC0415

    config = Config.load()
    context = config.resolve(context_name)
    if context.credentials is not None and context.credentials.kind == "session":
        try:
            with open_client(context, verbose=verbose, config=config) as client:
                client.logout()
        except ClientError as exc:
            warn(f"the server did not end the session ({exc.message}); forgetting it here")
    config.put(context.with_credentials(None))
    config.save()
    typer.echo(f"Logged out of {context.server} (context {context.name!r}).")


def _context_rows(config: Config) -> list[dict[str, Any]]:
    return [
        {**c.public(), "current": name == config.current}
        for name, c in sorted(config.contexts.items())
    ]


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    """Rows as aligned columns with a header line (``columns``: key, heading)."""
    cells = [[h for _, h in columns]] + [
        ["" if r.get(k) is None else str(r.get(k)) for k, _ in columns] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for row in cells:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@guarded
def context_list(output: Output = None) -> None:
    """List the contexts; * marks the current one.

    \b
    Examples:
      attonix context list
      attonix context list -o json
    """
    from attonix.client.config import Config  # noqa: PLC0415

    fmt = output_choice(output, choices=FORMATS, default="text")
    config = Config.load()
    rows = _context_rows(config)
    if fmt != "text":
        print_document(rows, fmt)
        return
    if not rows:
        typer.echo("No contexts yet: attonix login https://SERVER")
        return
    for r in rows:
        r["mark"] = "*" if r["current"] else ""
    print_table(
        rows,
        [
            ("mark", "CURRENT"),
            ("name", "NAME"),
            ("server", "SERVER"),
            ("user", "USER"),
            ("environment", "ENVIRONMENT"),
            ("auth", "AUTH"),
        ],
    )


@guarded
def context_current(output: Output = None) -> None:
    """Print the current context's name (with -o json|yaml: its details, no tokens).

    \b
    Examples:
      attonix context current
      attonix context current -o yaml
    """
    from attonix.client.config import Config  # noqa: PLC0415

    fmt = output_choice(output, choices=FORMATS, default="text")
    context = Config.load().resolve(None)
    if fmt == "text":
        typer.echo(context.name)
    else:
        print_document(context.public(), fmt)


@guarded
def context_use(name: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
    """Make NAME the current context.

    \b
    Examples:
      attonix context use prod
    """
    from attonix.client.config import Config  # noqa: PLC0415

    config = Config.load()
    config.resolve(name)
    config.current = name
    config.save()
    typer.echo(f"Switched to context {name!r}.")


@guarded
def context_set(
    name: Annotated[
        str | None, typer.Argument(metavar="[NAME]", help="Default: the current context.")
    ] = None,
    env: Annotated[str | None, typer.Option("--env", "-e", help="The default environment.")] = None,
) -> None:
    """Change a context's default environment.

    \b
    Examples:
      attonix context set --env prod
      attonix context set staging-server -e staging
    """
    from attonix.client.config import Config  # noqa: PLC0415

    if env is None:
        usage("nothing to set", hint="Pass --env ENV.")
    config = Config.load()
    context = config.resolve(name)
    from dataclasses import replace  # noqa: PLC0415

    config.put(replace(context, environment=env))
    config.save()
    typer.echo(f"Context {context.name!r} now uses environment {env!r}.")


@guarded
def context_delete(name: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
    """Delete a context and its tokens from the contexts file (the server is not told;
    run attonix logout first to end the session there).

    \b
    Examples:
      attonix context delete old-lab
    """
    from attonix.client.config import Config  # noqa: PLC0415

    config = Config.load()
    config.resolve(name)
    del config.contexts[name]
    if config.current == name:
        config.current = ""
    config.save()
    typer.echo(f"Deleted context {name!r}.")


def register(app: typer.Typer) -> None:
    """Add login, logout and context to the CLI."""
    panel = "Use a Central Server"
    app.command("login", rich_help_panel=panel)(login)
    app.command("logout", rich_help_panel=panel)(logout)
    ctx = typer.Typer(
        help="Contexts: which Central Server, as whom, in which environment.",
        no_args_is_help=True,
    )
    ctx.command("list")(context_list)
    ctx.command("current")(context_current)
    ctx.command("use")(context_use)
    ctx.command("set")(context_set)
    ctx.command("delete")(context_delete)
    app.add_typer(ctx, name="context", rich_help_panel=panel)
