"""Human-readable printing of findings, rules and failure-domain analyses (rich, loaded lazily
by the policy commands)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from attonix.cli._common import esc, stdout
from attonix.policy import RULES, Finding, Rule, Severity, at_or_above
from attonix.policy.failure_domains import Analysis
from attonix.policy.reports import summary

STYLE = {
    Severity.critical: "bold white on red",
    Severity.high: "bold red",
    Severity.medium: "bold yellow",
    Severity.low: "cyan",
    Severity.info: "dim",
}
_STATE_STYLE = {"ok": "bold green", "degraded": "bold yellow", "down": "bold red"}


def print_findings(
    console: Console, findings: Sequence[Finding], *, file: str, threshold: Severity
) -> None:
    """Findings grouped by severity, each with its place, rule, component, message and fix.

    Built as one styled text and printed once: no markup is parsed (so no text from the
    blueprint needs escaping), and a thousand findings cost one render, not three thousand.
    """
    active = [f for f in findings if not f.suppressed]
    out = Text()
    for severity in reversed(Severity):
        group = [f for f in active if f.severity is severity]
        if not group:
            continue
        style = STYLE[severity]
        out.append(severity.upper(), style)
        out.append(f" ({len(group)})\n")
        for f in group:
            out.append("  ")
            out.append(str(f.location), "bold")
            out.append("  ")
            out.append(f.rule, style)
            out.append("  ")
            out.append(f.component, "cyan")
            out.append(f"  {f.title}\n      {f.message}\n      ")
            out.append("fix:", "dim")
            out.append(f" {f.hint}\n")
        out.append("\n")
    counts = summary(findings)
    parts = [f"{n} {s}" for s, n in counts["by_severity"].items() if n]
    failing = len(at_or_above(findings, threshold))
    if counts["total"]:
        out.append(f"{counts['total']} finding(s)", "bold")
        out.append(f" in {file}: {', '.join(parts)}")
    else:
        out.append("no findings", "bold green")
        out.append(f" in {file} ({len(RULES)} rules)")
    out.append(f"; {failing} at or above {threshold}")
    if counts["suppressed"]:
        out.append(f"; {counts['suppressed']} suppressed by policy exceptions")
    out.append(".")
    console.print(out)


def print_rule(rule: Rule) -> None:
    """One rule in full."""
    out = stdout()
    out.print(f"[bold]{rule.id}[/]  {esc(rule.title)}")
    out.print(f"  severity: [{STYLE[rule.severity]}]{rule.severity}[/]   area: {rule.area}")
    out.print(f"  why: {esc(rule.rationale)}")
    out.print(f"  fix: {esc(rule.fix)}")
    if not rule.waivable:
        out.print("  This rule cannot be waived by a policy exception.")


def print_rules(rules: Sequence[Rule]) -> None:
    """The rule catalogue as a table."""
    table = Table(title=f"{len(rules)} policy rules", title_justify="left")
    for column in ("id", "severity", "area", "title"):
        table.add_column(column)
    for r in rules:
        table.add_row(r.id, f"[{STYLE[r.severity]}]{r.severity}[/]", str(r.area), esc(r.title))
    stdout().print(table)


def print_analysis(analysis: Analysis, *, file: str) -> None:
    """What each analysed loss takes down, and the verdict."""
    out = stdout()
    for loss in analysis.losses:
        state = loss.state
        out.print(
            f"[bold]{loss.level} {esc(loss.name)}[/] ({len(loss.hosts)} host(s)): "
            f"[{_STATE_STYLE[state]}]{state.upper()}[/]"
        )
        if loss.impacts:
            table = Table(show_header=True, box=None, padding=(0, 2), pad_edge=True)
            for column in ("component", "state", "what happens"):
                table.add_column(column)
            for i in sorted(loss.impacts, key=lambda x: (x.state != "down", x.component)):
                table.add_row(
                    esc(i.component), f"[{_STATE_STYLE[i.state]}]{i.state}[/]", esc(i.detail)
                )
            out.print(table)
    down = [loss for loss in analysis.losses if loss.state == "down"]
    n = len(analysis.losses)
    if not down:
        out.print(
            f"[bold green]{esc(file)} survives[/] the loss of any single {analysis.level} "
            f"({n} analysed)."
        )
    else:
        names = ", ".join(loss.name for loss in down)
        out.print(
            f"[bold red]{esc(file)} does not survive[/]: losing {analysis.level} {esc(names)} "
            f"takes something down ({len(down)} of {n})."
        )
