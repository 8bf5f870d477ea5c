"""`attonix plan | apply | status | destroy`: converge a live target towards the blueprint."""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.progress import Progress as RichProgress
from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from attonix.cli._common import (
    EXIT_FAIL,
    OutputFormat,
    fail,
    guarded,
    load_or_exit,
    print_json,
    stderr,
    stdout,
)
from attonix.deploy import (
    DRIVERS,
    ChainSecretSource,
    Driver,
    EnvSecretSource,
    FileSecretSource,
    Plan,
    Result,
    SecretSource,
    get_driver,
)
from attonix.deploy.state import TargetLock, state_dir

EXIT_CHANGES = 2  # --detailed-exitcode: the plan has changes (as terraform does)

_SYMBOL = {"create": ("+", "green"), "update": ("~", "yellow"), "delete": ("-", "red")}

TargetOpt = typer.Option(..., "--target", "-t", help=f"One of: {', '.join(sorted(DRIVERS))}.")
ClusterOpt = typer.Option(
    None, "--cluster", "-c", help="Cluster of that kind (needed when there are several)."
)
SecretsOpt = typer.Option(
    None,
    "--secrets-file",
    help="YAML/JSON file {secret: {key: value}} (mode 600); else ATTONIX_SECRET_<NAME>_<KEY>.",
)


def _driver(path: str, target: str, cluster: str | None, secrets_file: str | None) -> Driver:
    bp = load_or_exit(path).blueprint
    env = EnvSecretSource(bp.security.secrets)
    source: SecretSource = env
    if secrets_file:
        source = ChainSecretSource(FileSecretSource(secrets_file, bp.security.secrets), env)
    return get_driver(target, bp, cluster=cluster, secrets=source)


def _print_plan(plan: Plan) -> None:
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
    summary = (
        f"Plan for {plan.target} cluster {plan.cluster}: {c['create']} to create, "
        f"{c['update']} to update, {c['delete']} to delete, {c['unchanged']} unchanged."
    )
    out.print(Text("No changes. " + summary if plan.is_empty else summary, style="bold"))


def _print_result(result: Result, verb: str) -> None:
    err = stderr()
    for step in result.done:
        err.print(Text(f"  done: {step}", style="green"))
    for step in result.not_done:
        err.print(Text(f"  not done: {step}", style="yellow"))
    if not result.ok:
        fail(
            f"{verb} stopped: {result.error}",
            hint="Fix the cause and run the same command again; it continues from here.",
        )
    err.print(Text(f"{verb} complete: {len(result.done)} step(s).", style="bold green"))


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        fail(
            "refusing to change a live target without confirmation (no terminal to ask on)",
            hint="Pass --yes to confirm non-interactively.",
        )
    if not typer.confirm(question, default=False):
        fail("cancelled; nothing was changed.")


def _run_with_progress(fn: Any, description: str) -> Any:
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


@guarded
def plan_cmd(
    file: str = typer.Argument(..., help="The blueprint file."),
    target: str = TargetOpt,
    cluster: str | None = ClusterOpt,
    fmt: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f"),
    detailed_exitcode: bool = typer.Option(
        False, "--detailed-exitcode", help="Exit 2 when changes are pending, 0 when none."
    ),
    secrets_file: str | None = SecretsOpt,
) -> None:
    """Show what apply would create, update and delete, with a diff per resource."""
    plan = _driver(file, target, cluster, secrets_file).plan()
    if fmt is OutputFormat.json:
        print_json(plan.to_dict())
    else:
        _print_plan(plan)
    if detailed_exitcode and not plan.is_empty:
        raise typer.Exit(EXIT_CHANGES)


@guarded
def apply_cmd(
    file: str = typer.Argument(..., help="The blueprint file."),
    target: str = TargetOpt,
    cluster: str | None = ClusterOpt,
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds to wait for healthy replicas."),
    secrets_file: str | None = SecretsOpt,
) -> None:
    """Converge the target: plan, confirm, apply, wait until declared replicas are healthy."""
    driver = _driver(file, target, cluster, secrets_file)
    # Held from plan to apply: a plan taken while another apply runs would be stale, and the
    # second apply must be refused even when it would plan nothing.
    with TargetLock(state_dir(), target=driver.target, cluster=driver.cluster).held():
        plan = driver.plan()
        _print_plan(plan)
        if plan.is_empty:
            return
        _confirm(f"Apply these changes to {target} cluster {driver.cluster}?", yes)
        result = _run_with_progress(
            lambda progress: driver.apply(plan, progress, timeout=timeout), "applying"
        )
    _print_result(result, "apply")


@guarded
def status_cmd(
    file: str = typer.Argument(..., help="The blueprint file."),
    target: str = TargetOpt,
    cluster: str | None = ClusterOpt,
    fmt: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f"),
    secrets_file: str | None = SecretsOpt,
) -> None:
    """Desired, running and healthy replicas per service, as the engine reports them."""
    statuses = _driver(file, target, cluster, secrets_file).status()
    if fmt is OutputFormat.json:
        print_json([s.to_dict() for s in statuses])
    else:
        out = stdout()
        out.print(Text(f"{'SERVICE':40} {'DESIRED':>7} {'RUNNING':>7} {'HEALTHY':>7}  IMAGE"))
        for s in statuses:
            style = "green" if s.converged else "yellow"
            line = f"{s.name:40} {s.desired:>7} {s.running:>7} {s.healthy:>7}  {s.image}"
            out.print(Text(line, style=style))
            if s.message:
                out.print(Text(f"    {s.message}", style="dim"))
    if not all(s.converged for s in statuses):
        raise typer.Exit(EXIT_FAIL)


@guarded
def destroy_cmd(
    file: str = typer.Argument(..., help="The blueprint file."),
    target: str = TargetOpt,
    cluster: str | None = ClusterOpt,
    yes: bool = typer.Option(False, "--yes", "-y", help="Destroy without asking."),
    secrets_file: str | None = SecretsOpt,
) -> None:
    """Remove everything Attonix created for the blueprint on the target (found by label)."""
    driver = _driver(file, target, cluster, secrets_file)
    _confirm(
        f"Remove every resource of this blueprint from {target} cluster {driver.cluster}?", yes
    )
    result = _run_with_progress(driver.destroy, "destroying")
    _print_result(result, "destroy")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("plan", rich_help_panel="Deploy")(plan_cmd)
    app.command("apply", rich_help_panel="Deploy")(apply_cmd)
    app.command("status", rich_help_panel="Deploy")(status_cmd)
    app.command("destroy", rich_help_panel="Deploy")(destroy_cmd)
