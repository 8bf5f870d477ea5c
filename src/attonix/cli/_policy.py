"""`attonix check`, `attonix rules` and `attonix ha`: policy findings and failure domains."""

from __future__ import annotations

import enum
import io
import json
import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from attonix.cli._common import (
    EXIT_FINDINGS,
    blueprint_source,
    deprecated,
    fail,
    guarded,
    load_or_exit,
    no_cycle_collection,
    output_choice,
    print_document,
    split_legacy_file_flag,
    stdout,
    usage,
)
from attonix.cli._options import FileArg, FileOpt, LegacyFormat, output_option

if TYPE_CHECKING:
    from attonix.blueprint.loader import Loaded
    from attonix.policy import Finding


class FailOn(enum.StrEnum):
    """The lowest severity that makes `check` exit 1."""

    info = "info"
    low = "low"
    medium = "medium"
    high = "high"


CHECK_FORMATS = ("text", "json", "yaml", "sarif")
RULES_FORMATS = ("text", "json", "yaml", "markdown")
HA_FORMATS = ("text", "json", "yaml")

OutputFile = Annotated[
    str | None,
    typer.Option(
        "--output-file", metavar="PATH", help="Write the report to PATH instead of stdout."
    ),
]


def _check_output(
    output: str | None, output_file: str | None, legacy: str | None
) -> tuple[str, str | None]:
    """-o FORMAT and --output-file PATH; the old ``-o PATH`` still works, with a warning."""
    if output is not None and output not in CHECK_FORMATS:
        if output_file is not None:
            usage(
                f"-o {output!r} is not an output format",
                hint=f"Use one of: {', '.join(CHECK_FORMATS)}.",
            )
        deprecated(f"-o {output} (meaning a report file)", f"--output-file {output}")
        output, output_file = None, output
    fmt = output_choice(output, choices=CHECK_FORMATS, default="text", legacy=legacy)
    return fmt, output_file


def check_command(
    file: FileArg = None,
    file_opt: FileOpt = None,
    output: Annotated[str | None, output_option(CHECK_FORMATS, "text")] = None,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Exit 1 on findings of this severity or worse.")
    ] = FailOn.medium,
    output_file: OutputFile = None,
    legacy_format: LegacyFormat = None,
) -> None:
    """Check a blueprint against the security and high-availability policy.

    Each finding names FILE:LINE:COL, the rule, the component and a fix. A rule fires once
    per component, listing every failure domain whose loss it concerns. Findings waived by an
    unexpired 'policy.exceptions' entry are counted (and listed as suppressed in JSON and
    SARIF). An invalid blueprint is reported too: in SARIF its problems are results, so code
    scanning shows them. Exit 0 when nothing reaches --fail-on, 1 otherwise or when the
    blueprint is invalid, 2 on a usage error.

    \b
    Examples:
      attonix check examples/attonixcorp.yaml
      attonix check -f datacenter.yaml --fail-on high -o json
      attonix check datacenter.yaml -o sarif --output-file attonix.sarif
      cat datacenter.yaml | attonix check - -o yaml
    """
    file_opt, old = split_legacy_file_flag(file, file_opt, formats=CHECK_FORMATS)
    fmt, output_file = _check_output(output, output_file, legacy_format or old)
    path = blueprint_source(file, file_opt)
    with no_cycle_collection():
        _check(path, fmt, output_file, fail_on=fail_on.value)


def _check(path: str, fmt: str, output_file: str | None, *, fail_on: str) -> None:
    loaded = _load_for_report(path, fmt, output_file)

    from attonix.policy import RULES, Severity, at_or_above  # noqa: PLC0415
    from attonix.policy.reports import summary, to_json, to_sarif  # noqa: PLC0415

    findings = guarded(_run_check)(loaded)
    threshold = Severity(fail_on)
    report: str | None = None
    if fmt in ("json", "yaml"):
        doc = to_json(findings, file=loaded.file)
        report = json.dumps(doc, indent=2, sort_keys=True) if fmt == "json" else _yaml(doc)
    elif fmt == "sarif":
        sarif = to_sarif(findings, rules=RULES, root=os.getcwd())
        report = json.dumps(sarif, indent=2, sort_keys=True)
    if output_file is not None:
        if report is None:
            from rich.console import Console  # noqa: PLC0415

            from attonix.cli._policy_text import print_findings  # noqa: PLC0415

            buffer = io.StringIO()
            print_findings(
                Console(file=buffer, color_system=None, width=120, highlight=False),
                findings,
                file=loaded.file,
                threshold=threshold,
            )
            report = buffer.getvalue()
        _write(output_file, report)
        counts = summary(findings)
        stdout().print(
            f"wrote {fmt} report to {output_file}: {counts['total']} finding(s), "
            f"{counts['suppressed']} suppressed",
            markup=False,
        )
    elif report is not None:
        typer.echo(report.rstrip("\n"))
    else:
        from attonix.cli._policy_text import print_findings  # noqa: PLC0415

        print_findings(stdout(), findings, file=loaded.file, threshold=threshold)
    if at_or_above(findings, threshold):
        raise typer.Exit(EXIT_FINDINGS)


def _yaml(doc: Any) -> str:
    import yaml  # noqa: PLC0415

    return yaml.safe_dump(json.loads(json.dumps(doc, default=str)), sort_keys=True)


def _load_for_report(path: str, fmt: str, output_file: str | None) -> Loaded:
    """Load the blueprint; when it is invalid and a report file was asked for, the file gets
    the problems too (SARIF results, or the JSON/YAML diagnostics) before exit 1."""
    if output_file is None:
        return guarded(load_or_exit)(path, fmt)
    from attonix.blueprint.diagnostics import BlueprintInvalid  # noqa: PLC0415
    from attonix.cli._common import print_diagnostics, read_blueprint  # noqa: PLC0415

    try:
        return read_blueprint(path)
    except BlueprintInvalid as exc:
        print_diagnostics(exc)
        if fmt == "sarif":
            from attonix.policy.reports import diagnostics_sarif  # noqa: PLC0415

            doc: Any = diagnostics_sarif(exc.diagnostics, root=os.getcwd())
            _write(output_file, json.dumps(doc, indent=2, sort_keys=True))
        elif fmt in ("json", "yaml"):
            doc = {"valid": False, "diagnostics": [d.to_dict() for d in exc.diagnostics]}
            _write(
                output_file,
                json.dumps(doc, indent=2, sort_keys=True) if fmt == "json" else _yaml(doc),
            )
        raise typer.Exit(EXIT_FINDINGS) from None


def _run_check(loaded: Loaded) -> list[Finding]:
    from attonix.policy import check  # noqa: PLC0415

    return check(loaded)


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
    except OSError as exc:
        fail(
            f"cannot write {path}: {exc.strerror}",
            hint="Choose a writable path for --output-file.",
        )


def rules_command(
    explain: Annotated[
        str | None,
        typer.Option("--explain", metavar="ID", help="Show one rule in full (e.g. ATX001)."),
    ] = None,
    output: Annotated[str | None, output_option(RULES_FORMATS, "text")] = None,
    legacy_format: Annotated[
        str | None, typer.Option("--format", "-f", hidden=True, help="Deprecated: use -o.")
    ] = None,
) -> None:
    """List every policy rule, or explain one with --explain ID.

    \b
    Examples:
      attonix rules
      attonix rules --explain ATX048
      attonix rules -o markdown > docs/policy-rules.md
    """
    from attonix.policy import RULES, RULES_BY_ID  # noqa: PLC0415
    from attonix.policy.reports import rules_markdown  # noqa: PLC0415

    fmt = output_choice(output, choices=RULES_FORMATS, default="text", legacy=legacy_format)
    if explain is not None:
        rule = RULES_BY_ID.get(explain.strip().upper())
        if rule is None:
            usage(
                f"unknown rule id {explain!r}",
                hint=f"Rule ids run from {RULES[0].id} to {RULES[-1].id}; "
                "`attonix rules` lists them all.",
            )
        if fmt in ("json", "yaml"):
            print_document(rule.to_dict(), fmt)
            return
        from attonix.cli._policy_text import print_rule  # noqa: PLC0415

        print_rule(rule)
        return
    if fmt in ("json", "yaml"):
        print_document([r.to_dict() for r in RULES], fmt)
        return
    if fmt == "markdown":
        typer.echo(rules_markdown(RULES), nl=False)
        return
    from attonix.cli._policy_text import print_rules  # noqa: PLC0415

    print_rules(RULES)


def ha_command(
    file: FileArg = None,
    file_opt: FileOpt = None,
    fail_domain: Annotated[
        str | None,
        typer.Option(
            "--fail",
            metavar="DOMAIN",
            help="host, rack or zone (every domain of that level), or the name of one host, "
            "rack or zone. Default: the blueprint's ha.failure_domain.",
        ),
    ] = None,
    output: Annotated[str | None, output_option(HA_FORMATS, "text")] = None,
    legacy_format: LegacyFormat = None,
) -> None:
    """Show what the data center loses when a host, rack or zone fails.

    Assumes the spread the renderers enforce (see docs/policy.md). Exit 0 when no single
    loss takes anything down, 1 otherwise, 2 on a usage error.

    \b
    Examples:
      attonix ha examples/attonixcorp.yaml --fail zone
      attonix ha -f datacenter.yaml --fail node-1 -o json
    """
    file_opt, old = split_legacy_file_flag(file, file_opt, formats=HA_FORMATS)
    fmt = output_choice(output, choices=HA_FORMATS, default="text", legacy=legacy_format or old)
    loaded = guarded(load_or_exit)(blueprint_source(file, file_opt), fmt)
    from attonix.policy.failure_domains import analyze, resolve  # noqa: PLC0415

    bp = loaded.blueprint
    target = fail_domain or bp.ha.failure_domain
    resolved = resolve(bp, target)
    if resolved is None:
        usage(
            f"--fail {target!r} is not a level nor the name of a host, rack or zone",
            hint="Use host, rack, zone, or a name from the blueprint's hosts.",
        )
    level, only = resolved
    analysis = guarded(analyze)(bp, level=level, only=only)
    if fmt in ("json", "yaml"):
        doc: dict[str, Any] = {"file": loaded.file, **analysis.to_dict()}
        print_document(doc, fmt)
    else:
        from attonix.cli._policy_text import print_analysis  # noqa: PLC0415

        print_analysis(analysis, file=loaded.file)
    if not analysis.survives:
        raise typer.Exit(EXIT_FINDINGS)


def register(app: typer.Typer) -> None:
    """Add the policy commands to ``app``."""
    app.command("check", rich_help_panel="Blueprint")(check_command)
    app.command("rules", rich_help_panel="Blueprint")(rules_command)
    app.command("ha", rich_help_panel="Blueprint")(ha_command)
