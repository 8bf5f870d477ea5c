"""Remote commands for the daily work on a Central Server: blueprints, findings,
deployments (with the live log) and the audit log.

They go to the current context (``attonix login``; ``--context`` for another) and its
environment (``-e`` for another). Reports take ``-o text|json|yaml``; exit codes are the
CLI's: 1 when the answer is no (differences, findings at ``--fail-on``, a rejected or
cancelled deployment, a blueprint the server refused as invalid), 3 when the server or the
deployment failed.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from attonix.cli._common import (
    EXIT_ERROR,
    EXIT_FINDINGS,
    STDIN,
    blueprint_source,
    confirm,
    esc,
    fail,
    guarded,
    output_choice,
    print_document,
    stderr,
    stdout,
    usage,
)
from attonix.cli._options import ALIASES, FileArg, FileOpt
from attonix.cli._policy import FailOn
from attonix.cli._remote import (
    FORMATS,
    ContextOpt,
    Output,
    VerboseOpt,
    connect,
    environment_of,
    print_table,
)

if TYPE_CHECKING:
    from attonix.client.api import Client
    from attonix.client.models import DeploymentOut, FindingOut

EnvOpt = Annotated[
    str | None,
    typer.Option("--env", "-e", metavar="ENV", help="The environment (default: the context's)."),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking.")]
WatchOpt = Annotated[
    bool, typer.Option("--watch", "-w", help="Then follow the live log until it settles.")
]
DeploymentArg = Annotated[int, typer.Argument(metavar="ID", min=1, help="The deployment's id.")]
#: What the server deploys to (its API's DeploymentIn.target).
SERVER_TARGETS = ("kubernetes", "podman", "swarm")
_SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def _dump(model: Any) -> Any:
    if isinstance(model, list):
        return [m.model_dump(mode="json") for m in model]
    return model.model_dump(mode="json")


def _session(
    output: str | None, context_name: str | None, env: str | None, verbose: bool
) -> tuple[str, Client, str]:
    """The ``-o`` format, a client for the chosen context, and the environment to work in."""
    fmt = output_choice(output, choices=FORMATS, default="text")
    client, context = connect(context_name, verbose=verbose)
    try:
        return fmt, client, environment_of(context, env)
    except BaseException:
        client.close()
        raise


def _latest(client: Client, env: str) -> int:
    versions = client.versions(env)
    if not versions:
        fail(
            f"environment {env!r} has no blueprint yet",
            hint=f"Upload one: attonix blueprint upload datacenter.yaml -e {env}",
        )
    return versions[0].version


# ------------------------------------------------------------------------ blueprints


def _read_text(path: str) -> tuple[str, str]:
    """(text, file name) of the blueprint at ``path`` (``-``: stdin)."""
    if path == STDIN:
        if sys.stdin.isatty():
            usage("'-' reads the blueprint from stdin, but stdin is a terminal", hint="Pipe it in.")
        return sys.stdin.read(), "datacenter.yaml"
    try:
        return Path(path).read_text(encoding="utf-8"), Path(path).name
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}", code=EXIT_ERROR)


def _print_findings(findings: list[FindingOut], *, threshold: str) -> None:
    out = stdout()
    shown = [f for f in findings if not f.suppressed]
    for f in sorted(shown, key=lambda f: (-_SEVERITY_RANK[f.severity], f.file, f.line, f.rule)):
        where = f"{f.file}:{f.line}:{f.col}" if f.file else f.path or f.component
        colour = "red" if _SEVERITY_RANK[f.severity] >= _SEVERITY_RANK[threshold] else "yellow"
        out.print(
            f"[bold]{esc(where)}[/]: [bold {colour}]{f.severity}\\[{f.rule}][/] "
            f"[cyan]{esc(f.component)}[/]: {esc(f.message)}"
        )
        if f.hint:
            out.print(f"    [dim]hint:[/] {esc(f.hint)}")
    suppressed = len(findings) - len(shown)
    tail = f" ({suppressed} suppressed)" if suppressed else ""
    out.print(f"{len(shown)} finding(s){tail}.")


def _print_diagnostics(diagnostics: list[dict[str, Any]]) -> None:
    err = stderr()
    for d in diagnostics:
        err.print(
            f"[bold]{esc(str(d.get('file', '')))}:{d.get('line', 0)}:{d.get('col', 0)}[/]: "
            f"[bold red]{d.get('severity', 'error')}\\[{d.get('code', '')}][/]: "
            f"[cyan]{esc(str(d.get('path', '')))}[/]: {esc(str(d.get('message', '')))}"
        )
        if d.get("hint"):
            err.print(f"    [dim]hint:[/] {esc(str(d['hint']))}")


@guarded
def blueprint_upload(
    file: FileArg = None,
    file_opt: FileOpt = None,
    env: EnvOpt = None,
    output: Output = None,
    context_name: ContextOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Upload a blueprint: the server validates and checks it, and stores it as the next
    version of the environment. An invalid blueprint is refused with every problem at its
    line (exit 1). Accounts and bindings it declares wait for an identity administrator.

    \b
    Examples:
      attonix blueprint upload datacenter.yaml -e staging
      cat datacenter.yaml | attonix blueprint upload - -o json
    """
    from attonix.client.errors import Refused  # noqa: PLC0415

    text, name = _read_text(blueprint_source(file, file_opt))
    fmt, client, environment = _session(output, context_name, env, verbose)
    with client:
        try:
            result = client.upload(environment, text, filename=name)
        except Refused as exc:
            if not exc.diagnostics:
                raise
            if fmt != "text":
                print_document({"stored": False, "diagnostics": exc.diagnostics}, fmt)
            else:
                _print_diagnostics(exc.diagnostics)
                stderr().print(f"[bold red]refused:[/] {esc(exc.message)}")
            raise typer.Exit(EXIT_FINDINGS) from None
    if fmt != "text":
        print_document(_dump(result), fmt)
        return
    v = result.version
    typer.echo(
        f"Stored {name} as version {v.version} of {environment!r} "
        f"(sha256 {v.sha256[:12]}, {len(v.findings)} finding(s))."
    )
    plan = result.identity_plan
    if plan is not None and plan.status == "pending":
        typer.echo(
            f"Identity changes wait for an identity administrator: plan {plan.id} "
            f"(create {len(plan.changes.created)}, update {len(plan.changes.updated)}, "
            f"disable {len(plan.changes.disabled)})."
        )


@guarded
def blueprint_list(
    env: EnvOpt = None,
    output: Output = None,
    context_name: ContextOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """List the stored versions of an environment's blueprint, newest first (the latest 100),
    with how many findings each has (waived ones included; `attonix findings --version N`
    lists them).

    \b
    Examples:
      attonix blueprint list -e staging
      attonix blueprint list -o json
    """
    fmt, client, environment = _session(output, context_name, env, verbose)
    with client:
        versions = client.versions(environment)
    if fmt != "text":
        print_document(_dump(versions), fmt)
        return
    rows = [
        {
            "version": v.version,
            "created": v.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            "by": v.uploaded_by,
            "file": v.filename,
            "findings": v.findings_count,
            "sha": v.sha256[:12],
        }
        for v in versions
    ]
    print_table(
        rows,
        [
            ("version", "VERSION"),
            ("created", "UPLOADED (UTC)"),
            ("by", "BY"),
            ("file", "FILE"),
            ("findings", "FINDINGS"),
            ("sha", "SHA256"),
        ],
    )


@guarded
def blueprint_diff(
    file: FileArg = None,
    file_opt: FileOpt = None,
    env: EnvOpt = None,
    from_version: Annotated[
        int | None,
        typer.Option("--from", min=1, help="The older version (default: the one before --to)."),
    ] = None,
    to_version: Annotated[
        int | None, typer.Option("--to", min=1, help="The newer version (default: the latest).")
    ] = None,
    output: Output = None,
    context_name: ContextOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Show a unified diff: between two stored versions, or — given FILE — between the
    latest stored version (or --from) and FILE, i.e. what uploading FILE would change.
    Exit 0 when they are the same, 1 when they differ (like diff and kubectl diff).

    \b
    Examples:
      attonix blueprint diff datacenter.yaml -e staging
      attonix blueprint diff -e staging --from 3 --to 5
      attonix blueprint diff -e staging -o json
    """
    local = None if file is None and file_opt is None else blueprint_source(file, file_opt)
    if local is not None and to_version is not None:
        usage("--to and FILE contradict: FILE is the newer side", hint="Drop one of them.")
    fmt, client, environment = _session(output, context_name, env, verbose)
    with client:
        if local is not None:
            text, name = _read_text(local)
            base = from_version or _latest(client, environment)
            stored = client.version_source(environment, base)
            lines = difflib.unified_diff(
                stored.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"{environment}/v{base}",
                tofile=name,
            )
            diff_text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
            doc: dict[str, Any] = {"from_version": base, "to": name, "diff": diff_text}
        else:
            newest = to_version or _latest(client, environment)
            older = from_version or newest - 1
            if older < 1:
                fail(
                    f"{environment!r} has only version {newest}: nothing to compare",
                    hint="Give FILE to compare it with the stored version.",
                    code=EXIT_ERROR,
                )
            result = client.diff(environment, older, newest)
            diff_text = result.diff
            doc = _dump(result)
    doc["changed"] = bool(diff_text.strip())
    if fmt != "text":
        print_document(doc, fmt)
    elif diff_text:
        out = stdout()
        for line in diff_text.splitlines():
            style = (
                "bold"
                if line.startswith(("+++", "---"))
                else "green"
                if line.startswith("+")
                else "red"
                if line.startswith("-")
                else "cyan"
                if line.startswith("@@")
                else ""
            )
            out.print(line, style=style or None, markup=False, highlight=False)
    else:
        typer.echo("No differences.")
    if doc["changed"]:
        raise typer.Exit(EXIT_FINDINGS)


@guarded
def findings_cmd(
    env: EnvOpt = None,
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="Default: the latest version.")
    ] = None,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 on findings of this severity or worse.")
    ] = FailOn.medium,
    output: Output = None,
    context_name: ContextOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """List the policy findings of a stored blueprint version, as the server checked it.
    Exit 1 when an unsuppressed finding reaches --fail-on (like attonix check).

    \b
    Examples:
      attonix findings -e staging
      attonix findings -e prod --version 12 --fail-on high -o json
    """
    fmt, client, environment = _session(output, context_name, env, verbose)
    with client:
        number = version or _latest(client, environment)
        stored = client.version(environment, number)
    if fmt != "text":
        print_document(
            {"environment": environment, "version": number, "findings": _dump(stored.findings)},
            fmt,
        )
    else:
        _print_findings(list(stored.findings), threshold=fail_on.value)
    limit = _SEVERITY_RANK[fail_on.value]
    if any(not f.suppressed and _SEVERITY_RANK[f.severity] >= limit for f in stored.findings):
        raise typer.Exit(EXIT_FINDINGS)


# ------------------------------------------------------------------------ deployments


def _print_deployment(d: DeploymentOut, *, changes: bool = True) -> None:
    out = stdout()
    who = f", approved by {d.approved_by}" if d.approved_by else ""
    out.print(
        f"Deployment {d.id}: {d.environment} v{d.version} → {d.target}: [bold]{d.status}[/] "
        f"(requested by {esc(d.requested_by)}{esc(who)})"
    )
    plan = d.plan
    if plan.error:
        out.print(f"  [red]plan failed:[/] {esc(plan.error)}")
        if plan.hint:
            out.print(f"  [dim]hint:[/] {esc(plan.hint)}")
    elif plan.counts is not None:
        counts = ", ".join(f"{n} {k}" for k, n in plan.counts.items())
        out.print(f"  plan for cluster {esc(plan.cluster)}: {counts}")
        if plan.endpoint:
            out.print(f"  endpoint: {esc(plan.endpoint)}")
        if changes:
            for c in plan.changes:
                if c.action != "unchanged":
                    out.print(f"    {c.action} {esc(c.kind)} {esc(c.name)}", markup=False)
    if d.status == "awaiting_approval":
        hint = (
            f"attonix deployment approve {d.id} -e {d.environment}"
            if d.can_approve
            else "another person must approve it (two-person rule)"
            if d.two_person_rule
            else "someone with deploy:approve must approve it"
        )
        out.print(f"  awaits approval: {esc(hint)}", markup=True)


def _settled(d: DeploymentOut) -> None:
    """Exit as the deployment ended: 0 succeeded or awaiting approval; 1 rejected or
    cancelled; 3 planning or applying failed."""
    if d.status in ("failed", "plan_failed"):
        raise typer.Exit(EXIT_ERROR)
    if d.status in ("rejected", "cancelled"):
        raise typer.Exit(EXIT_FINDINGS)


def _follow(client: Client, env: str, deployment_id: int, fmt: str) -> DeploymentOut:
    """Print the live log until the deployment settles (succeeded, failed, awaiting
    approval, ...) and return it as it then stands. With -o json|yaml the log goes to
    stderr, so that stdout holds one document."""
    to_stderr = fmt != "text"
    for event in client.logs(env, deployment_id):
        typer.echo(f"{event.at[11:19]}  {event.line}", err=to_stderr)
    return client.deployment(env, deployment_id)


def _target(value: str) -> str:
    name = ALIASES.get(value.strip().lower(), value.strip().lower())
    if name not in SERVER_TARGETS:
        usage(
            f"the Central Server does not deploy to {value!r}",
            hint=f"Use one of: {', '.join(SERVER_TARGETS)} (k8s for kubernetes).",
        )
    return name


@guarded
def deployment_request(
    target: Annotated[
        str,
        typer.Option("--target", "-t", metavar="TARGET", help="kubernetes (k8s), podman or swarm."),
    ],
    env: EnvOpt = None,
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="Default: the latest version.")
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster", help="The blueprint cluster (default: the only one of the target's kind)."
        ),
    ] = None,
    watch: WatchOpt = False,
    output: Output = None,
    context_name: ContextOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Request a deployment of a stored version: the server checks, renders and plans it,
    then it waits for approval. With --watch, follow the planning log and show the plan.

    \b
    Examples:
      attonix deployment request -e staging -t swarm --watch
      attonix deployment request -e prod -t k8s --version 12 -o json
    """
    name = _target(target)
    fmt, client, environment = _session(output, context_name, env, verbose)
    with client:
        number = version or _latest(client, environment)
        d = client.request_deployment(environment, version=number, target=name, cluster=cluster)
        if fmt == "text":
            typer.echo(
                f"Requested deployment {d.id} of {environment} v{number} to {name}; "
                f"it is {d.status}."
            )
        if watch:
            d = _follow(client, environment, d.id, fmt)
    if fmt != "text":
        print_document(_dump(d), fmt)
    elif watch:
        _print_deployment(d)
    else:
        typer.echo(f"Follow it: attonix deployment watch {d.id} -e {environment}")
    _settled(d)


@guarded
def deployment_list(
    env: EnvOpt = None,
    output: Output = None,
    context_name: ContextOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """List an environment's deployments, newest first.

    \b
    Examples:
      attonix deployment list -e staging
      attonix deployment list -o yaml
    """
    fmt, client, environment = _session(output, context_name, env, verbose)
    with client:
        items = client.deployments(environment)
    if fmt != "text":
        print_document(_dump(items), fmt)
        return
    rows = [
        {
            "id": d.id,
            "version": d.version,
            "target": d.target,
            "status": d.status,
            "by": d.requested_by,
            "approver": d.approved_by or "",
            "created": d.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        }
        for d in items
    ]
    print_table(
        rows,
        [
            ("id", "ID"),
            ("version", "VERSION"),
            ("target", "TARGET"),
            ("status", "STATUS"),
            ("by", "REQUESTED BY"),
            ("approver", "APPROVED BY"),
            ("created", "CREATED (UTC)"),
        ],
    )


@guarded
def deployment_show(
    deployment_id: DeploymentArg,
    env: EnvOpt = None,
    output: Output = None,
    context_name: ContextOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Show a deployment: its status and its plan, change by change.

    \b
    Examples:
      attonix deployment show 7 -e staging
      attonix deployment show 7 -o json
    """
    fmt, client, environment = _session(output, context_name, env, verbose)
    with client:
        d = client.deployment(environment, deployment_id)
    if fmt != "text":
        print_document(_dump(d), fmt)
    else:
        _print_deployment(d)


def _decide(
    deployment_id: int,
    *,
    approve: bool,
    env: str | None,
    yes: bool,
    watch: bool,
    output: str | None,
    context_name: str | None,
    verbose: bool,
) -> None:
    fmt, client, environment = _session(output, context_name, env, verbose)
    with client:
        d = client.deployment(environment, deployment_id)
        if not yes and fmt == "text":
            _print_deployment(d)
        verb = "Approve" if approve else "Reject"
        where = f"{d.plan.target} cluster {d.plan.cluster}" if d.plan.cluster else d.target
        confirm(f"{verb} deployment {d.id} of {environment} v{d.version} to {where}?", yes)
        d = client.decide(environment, deployment_id, approve=approve)
        if fmt == "text":
            typer.echo(f"Deployment {d.id} is {d.status}.")
        if watch and approve:
            d = _follow(client, environment, d.id, fmt)
    if fmt != "text":
        print_document(_dump(d), fmt)
    elif watch and approve:
        _print_deployment(d, changes=False)
    _settled(d)


@guarded
def deployment_approve(
    deployment_id: DeploymentArg,
    env: EnvOpt = None,
    yes: YesOpt = False,
    watch: WatchOpt = False,
    output: Output = None,
    context_name: ContextOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Approve a planned deployment: shows its plan and asks first (--yes for scripts);
    the server then applies it. With --watch, follow the apply's live log to the end
    (exit 0 succeeded, 3 failed). Where the two-person rule holds, the requester cannot.

    \b
    Examples:
      attonix deployment approve 7 -e staging --watch
      attonix deployment approve 7 --yes
    """
    _decide(
        deployment_id,
        approve=True,
        env=env,
        yes=yes,
        watch=watch,
        output=output,
        context_name=context_name,
        verbose=verbose,
    )


@guarded
def deployment_reject(
    deployment_id: DeploymentArg,
    env: EnvOpt = None,
    yes: YesOpt = False,
    output: Output = None,
    context_name: ContextOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Reject a planned deployment (asks first; --yes for scripts). Exit 1: it will not run.

    \b
    Examples:
      attonix deployment reject 7 -e staging
    """
    _decide(
        deployment_id,
        approve=False,
        env=env,
        yes=yes,
        watch=False,
        output=output,
        context_name=context_name,
        verbose=verbose,
    )


@guarded
def deployment_cancel(
    deployment_id: DeploymentArg,
    env: EnvOpt = None,
    yes: YesOpt = False,
    output: Output = None,
    context_name: ContextOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Cancel your own deployment while it awaits approval (asks first; --yes for scripts).

    \b
    Examples:
      attonix deployment cancel 7 -e staging --yes
    """
    fmt, client, environment = _session(output, context_name, env, verbose)
    with client:
        confirm(f"Cancel deployment {deployment_id} in {environment}?", yes)
        d = client.cancel(environment, deployment_id)
    if fmt != "text":
        print_document(_dump(d), fmt)
    else:
        typer.echo(f"Deployment {d.id} is {d.status}.")


@guarded
def deployment_watch(
    deployment_id: DeploymentArg,
    env: EnvOpt = None,
    output: Output = None,
    context_name: ContextOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Follow a deployment's live log until it settles: it succeeds or fails, or its plan
    is ready for approval. Exit 0 succeeded or awaiting approval, 1 rejected or cancelled,
    3 failed. With -o json|yaml the log goes to stderr and the deployment to stdout.

    \b
    Examples:
      attonix deployment watch 7 -e staging
      attonix deployment watch 7 -o json | jq -r .status
    """
    fmt, client, environment = _session(output, context_name, env, verbose)
    with client:
        d = _follow(client, environment, deployment_id, fmt)
    if fmt != "text":
        print_document(_dump(d), fmt)
    else:
        _print_deployment(d, changes=False)
    _settled(d)


# ------------------------------------------------------------------------ audit


@guarded
def audit_log(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 50,
    action: Annotated[str | None, typer.Option("--action", help="Exact action.")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Exact actor name.")] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="Targets starting with this text.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="At or after this time (ISO 8601).")
    ] = None,
    oldest_first: Annotated[bool, typer.Option("--oldest-first", help="Chain order.")] = False,
    output: Output = None,
    context_name: ContextOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Read the Central Server's audit log (newest first), over the API of the current
    context (needs audit:read: an auditor or administrator).

    \b
    Examples:
      attonix audit log
      attonix audit log --action deployment.approve --since 2026-01-01 -o json
      attonix audit log --target deployment/7 --oldest-first
    """
    fmt = output_choice(output, choices=FORMATS, default="text")
    client, _ = connect(context_name, verbose=verbose)
    with client:
        entries = client.audit(
            limit=limit,
            newest_first=not oldest_first,
            action=action,
            actor=actor,
            target=target,
            since=since,
        )
    if fmt != "text":
        print_document(_dump(entries), fmt)
        return
    rows = [
        {
            "seq": e.seq,
            "at": e.at[:19].replace("T", " "),
            "actor": e.actor,
            "action": e.action,
            "target": e.target,
            "outcome": e.outcome,
        }
        for e in entries
    ]
    print_table(
        rows,
        [
            ("seq", "SEQ"),
            ("at", "AT (UTC)"),
            ("actor", "ACTOR"),
            ("action", "ACTION"),
            ("target", "TARGET"),
            ("outcome", "OUTCOME"),
        ],
    )


def register(app: typer.Typer) -> None:
    """Add blueprint, findings and deployment to the CLI (``audit log`` joins ``audit``)."""
    panel = "Use a Central Server"
    bp = typer.Typer(
        help="Blueprints stored on the Central Server: upload, list, diff.", no_args_is_help=True
    )
    bp.command("upload")(blueprint_upload)
    bp.command("list")(blueprint_list)
    bp.command("diff")(blueprint_diff)
    app.add_typer(bp, name="blueprint", rich_help_panel=panel)
    app.command("findings", rich_help_panel=panel)(findings_cmd)
    dep = typer.Typer(
        help="Deployments on the Central Server: request, approve, watch the live log.",
        no_args_is_help=True,
    )
    for name, fn in (
        ("request", deployment_request),
        ("list", deployment_list),
        ("show", deployment_show),
        ("approve", deployment_approve),
        ("reject", deployment_reject),
        ("cancel", deployment_cancel),
        ("watch", deployment_watch),
    ):
        dep.command(name)(fn)
    app.add_typer(dep, name="deployment", rich_help_panel=panel)
