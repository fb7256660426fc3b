"""Summaries of check runs: rich tables, a markdown report and JUnit XML."""

from __future__ import annotations

import re
import statistics
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

from rich.table import Table
from rich.text import Text

from generator.checks import ProjectReport, Status, StepResult

STATUS_STYLE = {Status.PASSED: "green", Status.FAILED: "bold red", Status.SKIPPED: "dim"}
# Characters XML 1.0 cannot carry, even escaped.
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# The line a generated project's pytest run prints after its fuzz tests (tests/conftest.py).
_FUZZ_LINE = re.compile(r"^fuzz: (\d+) examples over (\d+) operations \(profile (\w+)\)$", re.M)


def _seconds(result: StepResult) -> str:
    return "" if result.status is Status.SKIPPED else f"{result.seconds:.1f}"


def _result_label(report: ProjectReport) -> str:
    failed = report.failed
    return "passed" if failed is None else f"failed ({failed.name})"


def _step_names(reports: Mapping[str, ProjectReport]) -> list[str]:
    names: dict[str, None] = {}
    for report in reports.values():
        names.update(dict.fromkeys(result.name for result in report.results))
    return list(names)


def steps_table(report: ProjectReport, title: str | None = None) -> Table:
    """One project: step, status, seconds."""
    table = Table(title=title)
    table.add_column("step")
    table.add_column("status")
    table.add_column("seconds", justify="right")
    for result in report.results:
        style = STATUS_STYLE[result.status]
        table.add_row(result.name, Text(result.status.value, style=style), _seconds(result))
    return table


def matrix_table(reports: Mapping[str, ProjectReport], title: str | None = None) -> Table:
    """Many projects: one row per combination with the seconds of every step and the result."""
    names = _step_names(reports)
    table = Table(title=title)
    table.add_column("combination")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("result")
    for combo_id, report in reports.items():
        cells: list[str | Text] = [combo_id]
        for name in names:
            result = report.result(name)
            if result is None or result.status is Status.SKIPPED:
                cells.append(Text("-", style="dim"))
            else:
                cells.append(Text(_seconds(result), style=STATUS_STYLE[result.status]))
        style = "green" if report.ok else "bold red"
        cells.append(Text(_result_label(report), style=style))
        table.add_row(*cells)
    return table


def markdown_report(
    reports: Mapping[str, ProjectReport], title: str, elapsed: float | None = None
) -> str:
    """A markdown summary: one table row per combination, then the tail of each failure."""
    names = _step_names(reports)
    failures = sum(not report.ok for report in reports.values())
    wall = "" if elapsed is None else f" Wall time {elapsed:.0f} s ({elapsed / 60:.1f} min)."
    lines = [
        f"# {title}",
        "",
        f"{len(reports)} run(s), {len(reports) - failures} passed, {failures} failed.{wall}",
        "",
        "| combination | " + " | ".join(names) + " | result |",
        "|---|" + "---:|" * len(names) + "---|",
    ]
    for combo_id, report in reports.items():
        cells = []
        for name in names:
            result = report.result(name)
            if result is None or result.status is Status.SKIPPED:
                cells.append("-")
            elif result.status is Status.FAILED:
                cells.append(f"**{_seconds(result)} ✗**")
            else:
                cells.append(_seconds(result))
        label = "passed" if report.ok else f"**{_result_label(report)}**"
        lines.append(f"| `{combo_id}` | " + " | ".join(cells) + f" | {label} |")
    lines += ["", *timing_summary(reports), *fuzz_summary(reports)]
    for combo_id, report in reports.items():
        failed = report.failed
        if failed is None:
            continue
        fence = "````" if "```" in failed.output else "```"
        lines += [
            "",
            f"## `{combo_id}`: {failed.name} failed",
            "",
            f"Command: `{failed.command}` (exit {failed.returncode})" if failed.command else "",
            "",
            fence,
            failed.excerpt(),
            fence,
        ]
    return "\n".join(lines) + "\n"


def fuzz_summary(reports: Mapping[str, ProjectReport]) -> list[str]:
    """Markdown lines: the fuzz examples each combination's test runs report."""
    lines: list[str] = []
    for combo_id, report in reports.items():
        runs = [
            f"{result.name} {examples} examples over {operations} operations ({profile})"
            for result in report.results
            for examples, operations, profile in _FUZZ_LINE.findall(result.output)
        ]
        if runs:
            lines.append(f"- `{combo_id}`: " + "; ".join(runs))
    return ["", "Fuzzing (schemathesis, in process):", "", *lines] if lines else []


def timing_summary(reports: Mapping[str, ProjectReport]) -> list[str]:
    """Markdown lines: the median of each step over the combinations, and the slowest one."""
    if not reports:
        return []
    lines = [
        "## Timings",
        "",
        "Seconds per step; steps of one group run side by side, so they overlap.",
        "",
        "| step | median s | max s |",
        "|---|---:|---:|",
    ]
    for name in _step_names(reports):
        seconds = [
            result.seconds
            for report in reports.values()
            if (result := report.result(name)) is not None and result.status is not Status.SKIPPED
        ]
        if seconds:
            lines.append(f"| {name} | {statistics.median(seconds):.1f} | {max(seconds):.1f} |")
    slowest_id, slowest = max(reports.items(), key=lambda item: item[1].wall)
    lines += [
        "",
        f"Slowest combination: `{slowest_id}` ({slowest.wall:.0f} s wall, "
        f"{slowest.seconds:.0f} s of steps).",
    ]
    return lines


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("", text)


def junit_xml(reports: Mapping[str, ProjectReport], suite: str) -> str:
    """JUnit XML with one testcase per (combination, step)."""
    root = ET.Element("testsuites", name=suite)
    for combo_id, report in reports.items():
        element = ET.SubElement(
            root,
            "testsuite",
            name=f"{suite}.{combo_id}",
            tests=str(len(report.results)),
            failures=str(sum(r.status is Status.FAILED for r in report.results)),
            skipped=str(sum(r.status is Status.SKIPPED for r in report.results)),
            errors="0",
            time=f"{report.seconds:.3f}",
        )
        for result in report.results:
            case = ET.SubElement(
                element,
                "testcase",
                classname=f"{suite}.{combo_id}",
                name=result.name,
                time=f"{result.seconds:.3f}",
            )
            if result.status is Status.FAILED:
                failure = ET.SubElement(
                    case,
                    "failure",
                    message=_xml_text(f"{result.name} failed (exit {result.returncode})"),
                )
                failure.text = _xml_text(f"$ {result.command}\n{result.excerpt(200)}")
            elif result.status is Status.SKIPPED:
                ET.SubElement(case, "skipped", message="an earlier step failed")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
