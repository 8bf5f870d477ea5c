"""`attonix plan | apply | status | destroy`: converge a live target towards the blueprint."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from attonix.cli._common import (
    EXIT_FINDINGS,
    blueprint_source,
    confirm,
    fail,
    guarded,
    load_or_exit,
    output_choice,
    print_document,
    split_legacy_file_flag,
    stderr,
    stdout,
    usage,
)
from attonix.cli._options import (
    DEPLOY_TARGETS,
    DeployTarget,
    FileArg,
    FileOpt,
    LegacyFormat,
    output_option,
    target_name,
)

if TYPE_CHECKING:
    from attonix.blueprint import Blueprint
    from attonix.deploy import Driver, Plan, Result, SecretSource

REPORT_FORMATS = ("text", "json", "yaml")

_SYMBOL = {"create": ("+", "green"), "update": ("~", "yellow"), "delete": ("-", "red")}

ClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        "-c",
        metavar="NAME",
        help="Cluster of that kind (needed when there are several).",
    ),
]
SecretsOpt = Annotated[
    str | None,
    typer.Option(
        "--secrets-file",
        metavar="PATH",
        help="YAML/JSON file {secret: {key: value}} (mode 600); else ATTONIX_SECRET_<NAME>_<KEY>.",
    ),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking.")]
ConnectionsOpt = Annotated[
    str | None,
    typer.Option(
        "--connections",
        metavar="PATH",
        help="Connections file mapping clusters to endpoints and credentials; else "
        "$ATTONIX_CONNECTIONS, else ~/.config/attonix/connections.yaml (docs/deploy.md).",
    ),
]


def _target(target: str | None) -> str:
    if not target:
        usage(
            "which target? --target is required",
            hint="Pass -t swarm, -t podman, -t k8s, -t databases, -t ceph or -t vsphere.",
        )
    return target_name(target, allowed=DEPLOY_TARGETS)


def _driver(
    path: str,
    target: str,
    cluster: str | None,
    secrets_file: str | None,
    connections_file: str | None = None,
    *,
    need_secrets: bool = True,
    check: bool = True,
) -> Driver:
    from attonix.deploy import (  # noqa: PLC0415
        ChainSecretSource,
        EnvSecretSource,
        FileSecretSource,
        connections,
        get_driver,
    )
    from attonix.deploy.converging import check_connection  # noqa: PLC0415

    bp = load_or_exit(path).blueprint
    env = EnvSecretSource(bp.security.secrets)
    source: SecretSource = env
    if secrets_file:
        source = ChainSecretSource(FileSecretSource(secrets_file, bp.security.secrets), env)
    found = connections.load(Path(connections_file) if connections_file else None)
    driver = get_driver(target, bp, cluster=cluster, secrets=source, connections=found)
    if need_secrets:
        _require_secrets(bp, driver.cluster, source)
    if check:
        check_connection(driver)
    return driver


def _endpoint(driver: Driver) -> str:
    from attonix.deploy.converging import endpoint_of  # noqa: PLC0415

    return endpoint_of(driver)


def secrets_needed(bp: Blueprint, cluster: str) -> list[str]:
    """Names of the declared secrets the services of ``cluster`` mount."""
    services = [*bp.services.backend, *bp.services.frontend]
    return sorted(
        {
            mount.secret
            for svc in services
            if getattr(svc, "cluster", None) == cluster
            for mount in getattr(svc, "secrets", ())
        }
    )


def _require_secrets(bp: Blueprint, cluster: str, source: SecretSource) -> None:
    """Ask the source for every secret the cluster needs, and report all missing ones at once
    (a driver would stop at the first)."""
    from attonix.deploy import SecretMissing  # noqa: PLC0415

    missing: list[SecretMissing] = []
    for name in secrets_needed(bp, cluster):
        try:
            source.get(name)
        except SecretMissing as exc:
            missing.append(exc)
    if not missing:
        return
    if len(missing) == 1:
        fail(missing[0].message, hint=missing[0].hint)
    err = stderr()
    for problem in missing:
        err.print(f"  - {problem.message}", markup=False)
    fail(
        f"{len(missing)} secrets have no value (listed above)",
        hint=missing[0].hint,
    )


def _print_plan(plan: Plan, endpoint: str = "") -> None:
    from rich.text import Text  # noqa: PLC0415

    out = stdout()
    for change in plan.pending:
        symbol, colour = _SYMBOL[change.action]
        out.print(Text(f"{symbol} {change.action} {change.key}", style=f"bold {colour}"))
        for line in change.diff.splitlines():
            style = ""
            if line.startswith("+") and not line.startswith("+++"):
                style = "green"
            elif line.startswith("-") and not line.startswith("---"):
                style = "red"
            elif line.startswith("@@"):
                style = "cyan"
            out.print(Text("    " + line, style=style))
    c = plan.counts()
    at = f" ({endpoint})" if endpoint else ""
    summary = (
        f"Plan for {plan.target} cluster {plan.cluster}{at}: {c['create']} to create, "
        f"{c['update']} to update, {c['delete']} to delete, {c['unchanged']} unchanged."
    )
    out.print(Text("No changes. " + summary if plan.is_empty else summary, style="bold"))


def _print_result(result: Result, verb: str) -> None:
    from rich.text import Text  # noqa: PLC0415

    err = stderr()
    for step in result.done:
        err.print(Text(f"  done: {step}", style="green"))
    for step in result.not_done:
        err.print(Text(f"  not done: {step}", style="yellow"))
    if not result.ok:
        fail(
            f"{verb} failed: {result.error}",
            hint="Fix the cause and run the same command again; it continues from here.",
        )
    err.print(Text(f"{verb} complete: {len(result.done)} step(s).", style="bold green"))


def _run_with_progress(fn: Any, description: str) -> Any:
    from rich.progress import Progress as RichProgress  # noqa: PLC0415
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    with RichProgress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=stderr(),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def progress(message: str) -> None:
            bar.console.print(Text(f"  {message}", style="dim"))
            bar.update(task, description=message)

        return fn(progress)


def _inputs(
    file: str | None, file_opt: str | None, output: str | None, legacy: str | None
) -> tuple[str, str]:
    file_opt, old = split_legacy_file_flag(file, file_opt, formats=REPORT_FORMATS)
    fmt = output_choice(output, choices=REPORT_FORMATS, default="text", legacy=legacy or old)
    return blueprint_source(file, file_opt), fmt


@guarded
def plan_cmd(
    file: FileArg = None,
    file_opt: FileOpt = None,
    target: DeployTarget = None,
    cluster: ClusterOpt = None,
    output: Annotated[str | None, output_option(REPORT_FORMATS, "text")] = None,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode",
            help="Exit 1 when changes are pending, 0 when none (3 when planning fails).",
        ),
    ] = False,
    secrets_file: SecretsOpt = None,
    connections_file: ConnectionsOpt = None,
    legacy_format: LegacyFormat = None,
) -> None:
    """Show what apply would create, update and delete, with a diff per resource.

    \b
    Examples:
      attonix plan tests/fixtures/deploy/shop.yaml -t swarm
      attonix plan -f datacenter.yaml -t k8s -c prod -o json
      attonix plan datacenter.yaml -t podman --detailed-exitcode || echo drift
    """
    path, fmt = _inputs(file, file_opt, output, legacy_format)
    driver = _driver(path, _target(target), cluster, secrets_file, connections_file)
    plan = driver.plan()
    if fmt != "text":
        print_document({**plan.to_dict(), "endpoint": _endpoint(driver)}, fmt)
    else:
        _print_plan(plan, _endpoint(driver))
    if detailed_exitcode and not plan.is_empty:
        raise typer.Exit(EXIT_FINDINGS)


@guarded
def apply_cmd(
    file: FileArg = None,
    file_opt: FileOpt = None,
    target: DeployTarget = None,
    cluster: ClusterOpt = None,
    yes: YesOpt = False,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            help="Seconds to wait for the engine to report the change converged.",
        ),
    ] = 300.0,
    secrets_file: SecretsOpt = None,
    connections_file: ConnectionsOpt = None,
) -> None:
    """Converge the target: plan, confirm, apply, wait until the engine reports the new spec
    converged and healthy, then verify every service.

    Exit 0 when converged, 1 when you decline, 2 on a usage error, 3 when the apply stops or
    the engine rejects, rolls back or does not converge the change (the engine's reason is
    shown; run the same command again to continue).

    \b
    Examples:
      attonix apply tests/fixtures/deploy/shop.yaml -t swarm
      attonix apply -f datacenter.yaml -t podman --yes --timeout 600
      attonix apply datacenter.yaml -t swarm --secrets-file secrets.yaml
      attonix apply datacenter.yaml -t swarm --connections prod-connections.yaml
    """
    from rich.text import Text  # noqa: PLC0415

    from attonix.deploy import converge  # noqa: PLC0415

    path, _ = _inputs(file, file_opt, None, None)
    driver = _driver(path, _target(target), cluster, secrets_file, connections_file, check=False)
    err = stderr()

    def progress(message: str) -> None:
        err.print(Text(f"  {message}", style="dim"))

    outcome = converge(
        driver,
        show=lambda plan: _print_plan(plan, _endpoint(driver)),
        confirm=lambda _: confirm(
            f"Apply these changes to {driver.target} cluster {driver.cluster}?", yes
        ),
        progress=progress,
        timeout=timeout,
    )
    _print_result(outcome.result, "apply")


@guarded
def status_cmd(
    file: FileArg = None,
    file_opt: FileOpt = None,
    target: DeployTarget = None,
    cluster: ClusterOpt = None,
    output: Annotated[str | None, output_option(REPORT_FORMATS, "text")] = None,
    secrets_file: SecretsOpt = None,
    connections_file: ConnectionsOpt = None,
    legacy_format: LegacyFormat = None,
) -> None:
    """Desired, running and healthy replicas per service, as the engine reports them, and
    whether the engine runs the blueprint's spec.

    Exit 0 when every service has converged, 1 when one has not (fewer healthy replicas, drift,
    or an update the engine rejected, paused or rolled back).

    \b
    Examples:
      attonix status tests/fixtures/deploy/shop.yaml -t swarm
      attonix status -f datacenter.yaml -t k8s -o yaml
    """
    from rich.text import Text  # noqa: PLC0415

    path, fmt = _inputs(file, file_opt, output, legacy_format)
    statuses = _driver(
        path, _target(target), cluster, secrets_file, connections_file, need_secrets=False
    ).status()
    if fmt != "text":
        print_document([s.to_dict() for s in statuses], fmt)
    else:
        out = stdout()
        out.print(Text(f"{'SERVICE':40} {'DESIRED':>7} {'RUNNING':>7} {'HEALTHY':>7}  IMAGE"))
        for s in statuses:
            style = "green" if s.converged else "yellow"
            line = f"{s.name:40} {s.desired:>7} {s.running:>7} {s.healthy:>7}  {s.image}"
            out.print(Text(line, style=style))
            if s.failure:
                reason = f": {s.reason}" if s.reason else ""
                out.print(Text(f"    {s.failure.replace('_', ' ')}{reason}", style="red"))
            if s.message:
                out.print(Text(f"    {s.message}", style="dim"))
    if not all(s.converged for s in statuses):
        raise typer.Exit(EXIT_FINDINGS)


@guarded
def destroy_cmd(
    file: FileArg = None,
    file_opt: FileOpt = None,
    target: DeployTarget = None,
    cluster: ClusterOpt = None,
    yes: YesOpt = False,
    secrets_file: SecretsOpt = None,
    connections_file: ConnectionsOpt = None,
) -> None:
    """Remove everything Attonix created for the blueprint on the target (found by label).

    Lists what will be removed, then asks. Exit 0 when removed, 1 when you decline.

    \b
    Examples:
      attonix destroy tests/fixtures/deploy/shop.yaml -t swarm
      attonix destroy -f datacenter.yaml -t podman --yes
    """
    path, _ = _inputs(file, file_opt, None, None)
    driver = _driver(
        path, _target(target), cluster, secrets_file, connections_file, need_secrets=False
    )
    removals = driver.removals()
    _print_removals(driver, removals)
    if not removals and driver.target != "kubernetes":
        return
    confirm(
        f"Remove these {len(removals)} item(s) from {driver.target} cluster {driver.cluster}?",
        yes,
    )
    result = _run_with_progress(driver.destroy, "destroying")
    _print_result(result, "destroy")


def _print_removals(driver: Driver, removals: list[str]) -> None:
    from rich.text import Text  # noqa: PLC0415

    out = stdout()
    if not removals:
        out.print(
            Text(
                f"Nothing of this blueprint is on {driver.target} cluster {driver.cluster}.",
                style="bold",
            )
        )
        return
    out.print(
        Text(f"destroy will remove from {driver.target} cluster {driver.cluster}:", style="bold")
    )
    for label in removals:
        out.print(Text(f"  - {label}", style="red"))


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("plan", rich_help_panel="Deploy")(plan_cmd)
    app.command("apply", rich_help_panel="Deploy")(apply_cmd)
    app.command("status", rich_help_panel="Deploy")(status_cmd)
    app.command("destroy", rich_help_panel="Deploy")(destroy_cmd)
