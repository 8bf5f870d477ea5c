"""`attonix check`, `attonix rules` and `attonix ha`: policy findings and failure domains."""

from __future__ import annotations

import enum
import io
import json
import os
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from attonix.blueprint.loader import Loaded
from attonix.cli._common import (
    EXIT_FAIL,
    EXIT_USAGE,
    OutputFormat,
    fail,
    guarded,
    load_or_exit,
    print_json,
    stdout,
)
from attonix.policy import RULES, RULES_BY_ID, Finding, Severity, at_or_above, check
from attonix.policy.failure_domains import Analysis, analyze, resolve
from attonix.policy.reports import rules_markdown, summary, to_json, to_sarif


class ReportFormat(enum.StrEnum):
    """How `check` reports findings."""

    text = "text"
    json = "json"
    sarif = "sarif"


class FailOn(enum.StrEnum):
    """The lowest severity that makes `check` exit 1."""

    info = "info"
    low = "low"
    medium = "medium"
    high = "high"


class RulesFormat(enum.StrEnum):
    """How `rules` prints the catalogue."""

    text = "text"
    json = "json"
    markdown = "markdown"


_STYLE = {
    Severity.critical: "bold white on red",
    Severity.high: "bold red",
    Severity.medium: "bold yellow",
    Severity.low: "cyan",
    Severity.info: "dim",
}
_STATE_STYLE = {"ok": "bold green", "degraded": "bold yellow", "down": "bold red"}


def _esc(text: str) -> str:
    return text.replace("[", "\\[")


def _print_text(
    console: Console, findings: Sequence[Finding], *, file: str, threshold: Severity
) -> None:
    active = [f for f in findings if not f.suppressed]
    for severity in reversed(Severity):
        group = [f for f in active if f.severity is severity]
        if not group:
            continue
        console.print(f"[{_STYLE[severity]}]{severity.upper()}[/] ({len(group)})")
        for f in group:
            console.print(
                f"  [bold]{f.location}[/]  [{_STYLE[severity]}]{f.rule}[/]  "
                f"[cyan]{f.component}[/]  {_esc(f.title)}"
            )
            console.print(f"      {_esc(f.message)}")
            console.print(f"      [dim]fix:[/] {_esc(f.hint)}")
        console.print()
    counts = summary(findings)
    parts = [f"{n} {s}" for s, n in counts["by_severity"].items() if n]
    failing = len(at_or_above(findings, threshold))
    if counts["total"]:
        line = f"[bold]{counts['total']} finding(s)[/] in {file}: {', '.join(parts)}"
    else:
        line = f"[bold green]no findings[/] in {file} ({len(RULES)} rules)"
    line += f"; {failing} at or above {threshold}"
    if counts["suppressed"]:
        line += f"; {counts['suppressed']} suppressed by policy exceptions"
    console.print(line + ".")


def check_command(
    file: Annotated[str, typer.Argument(help="The blueprint YAML file.")],
    fmt: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="text, json, or sarif (code scanning).")
    ] = ReportFormat.text,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 on findings of this severity or worse.")
    ] = FailOn.medium,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write the report to this file.")
    ] = None,
) -> None:
    """Check a blueprint against the security and high-availability policy.

    Each finding names FILE:LINE:COL, the rule, the component and a fix. Findings waived by
    an unexpired 'policy.exceptions' entry are counted (and listed as suppressed in JSON and
    SARIF). Exit 0 when nothing reaches --fail-on, 1 otherwise or when the blueprint is invalid.

    Example: attonix check datacenter.yaml --format sarif -o attonix.sarif
    """
    loaded = guarded(load_or_exit)(
        file, OutputFormat.json if fmt is ReportFormat.json else OutputFormat.text
    )
    findings = guarded(_run_check)(loaded)
    threshold = Severity(fail_on.value)
    report: str | None = None
    if fmt is ReportFormat.json:
        report = json.dumps(to_json(findings, file=loaded.file), indent=2, sort_keys=True)
    elif fmt is ReportFormat.sarif:
        sarif = to_sarif(findings, rules=RULES, root=os.getcwd())
        report = json.dumps(sarif, indent=2, sort_keys=True)
    if output is not None:
        if report is None:
            buffer = io.StringIO()
            _print_text(
                Console(file=buffer, color_system=None, width=120, highlight=False),
                findings,
                file=loaded.file,
                threshold=threshold,
            )
            report = buffer.getvalue()
        _write(output, report)
        counts = summary(findings)
        stdout().print(
            f"wrote {fmt} report to {output}: {counts['total']} finding(s), "
            f"{counts['suppressed']} suppressed"
        )
    elif report is not None:
        typer.echo(report)
    else:
        _print_text(stdout(), findings, file=loaded.file, threshold=threshold)
    if at_or_above(findings, threshold):
        raise typer.Exit(EXIT_FAIL)


def _run_check(loaded: Loaded) -> list[Finding]:
    return check(loaded)


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}", hint="Choose a writable path for -o.")


def rules_command(
    explain: Annotated[
        str | None, typer.Option("--explain", help="Show one rule in full (e.g. ATX001).")
    ] = None,
    fmt: Annotated[
        RulesFormat, typer.Option("--format", "-f", help="text, json, or markdown.")
    ] = RulesFormat.text,
) -> None:
    """List every policy rule, or explain one with --explain ID.

    Example: attonix rules --explain ATX048
    """
    if explain is not None:
        rule = RULES_BY_ID.get(explain.strip().upper())
        if rule is None:
            fail(
                f"unknown rule id {explain!r}",
                hint=f"Rule ids run from {RULES[0].id} to {RULES[-1].id}; "
                "`attonix rules` lists them all.",
            )
        if fmt is RulesFormat.json:
            print_json(rule.to_dict())
            return
        out = stdout()
        out.print(f"[bold]{rule.id}[/]  {_esc(rule.title)}")
        out.print(f"  severity: [{_STYLE[rule.severity]}]{rule.severity}[/]   area: {rule.area}")
        out.print(f"  why: {_esc(rule.rationale)}")
        out.print(f"  fix: {_esc(rule.fix)}")
        if not rule.waivable:
            out.print("  This rule cannot be waived by a policy exception.")
        return
    if fmt is RulesFormat.json:
        print_json([r.to_dict() for r in RULES])
        return
    if fmt is RulesFormat.markdown:
        typer.echo(rules_markdown(RULES), nl=False)
        return
    table = Table(title=f"{len(RULES)} policy rules", title_justify="left")
    for column in ("id", "severity", "area", "title"):
        table.add_column(column)
    for r in RULES:
        table.add_row(r.id, f"[{_STYLE[r.severity]}]{r.severity}[/]", str(r.area), _esc(r.title))
    stdout().print(table)


def _print_analysis(analysis: Analysis, *, file: str) -> None:
    out = stdout()
    for loss in analysis.losses:
        state = loss.state
        out.print(
            f"[bold]{loss.level} {loss.name}[/] ({len(loss.hosts)} host(s)): "
            f"[{_STATE_STYLE[state]}]{state.upper()}[/]"
        )
        if loss.impacts:
            table = Table(show_header=True, box=None, padding=(0, 2), pad_edge=True)
            for column in ("component", "state", "what happens"):
                table.add_column(column)
            for i in sorted(loss.impacts, key=lambda x: (x.state != "down", x.component)):
                table.add_row(i.component, f"[{_STATE_STYLE[i.state]}]{i.state}[/]", i.detail)
            out.print(table)
    down = [loss for loss in analysis.losses if loss.state == "down"]
    n = len(analysis.losses)
    if not down:
        out.print(
            f"[bold green]{file} survives[/] the loss of any single {analysis.level} "
            f"({n} analysed)."
        )
    else:
        names = ", ".join(loss.name for loss in down)
        out.print(
            f"[bold red]{file} does not survive[/]: losing {analysis.level} {names} takes "
            f"something down ({len(down)} of {n})."
        )


def ha_command(
    file: Annotated[str, typer.Argument(help="The blueprint YAML file.")],
    fail_domain: Annotated[
        str | None,
        typer.Option(
            "--fail",
            help="host, rack or zone (every domain of that level), or the name of one host, "
            "rack or zone. Default: the blueprint's ha.failure_domain.",
        ),
    ] = None,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="text, or json for automation.")
    ] = OutputFormat.text,
) -> None:
    """Show what the data center loses when a host, rack or zone fails.

    Assumes the spread the renderers enforce (see docs/policy.md). Exit 0 when no single
    loss takes anything down, 1 otherwise.

    Example: attonix ha datacenter.yaml --fail zone
    """
    loaded = guarded(load_or_exit)(file, fmt)
    bp = loaded.blueprint
    target = fail_domain or bp.ha.failure_domain
    resolved = resolve(bp, target)
    if resolved is None:
        fail(
            f"--fail {target!r} is not a level nor the name of a host, rack or zone",
            hint="Use host, rack, zone, or a name from the blueprint's hosts.",
            code=EXIT_USAGE,
        )
    level, only = resolved
    analysis = guarded(analyze)(bp, level=level, only=only)
    if fmt is OutputFormat.json:
        doc: dict[str, Any] = {"file": loaded.file, **analysis.to_dict()}
        print_json(doc)
    else:
        _print_analysis(analysis, file=loaded.file)
    if not analysis.survives:
        raise typer.Exit(EXIT_FAIL)


def register(app: typer.Typer) -> None:
    """Add the policy commands to ``app``."""
    app.command("check", rich_help_panel="Blueprint")(check_command)
    app.command("rules", rich_help_panel="Blueprint")(rules_command)
    app.command("ha", rich_help_panel="Blueprint")(ha_command)
