"""SARIF 2.1.0 for CI code-scanning pages: failed queries, models that grew, models that do
not fit the device asked about, dynamic models — one result per model and rule.

Each result points at the model file relative to its repository root (``uriBaseId``, with
the root itself in ``originalUriBaseIds``), carries the sizes as properties, and has a
fingerprint made of the rule, the repository's name and the path only, so that the same
finding keeps its identity from one run to the next wherever the repository is checked out.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from .. import __version__
from ..core import NOT_FAILURES
from ..store import Store
from .diff import Change, diff_scans, last_completed_scans
from .plan import Target, plan_models
from .report import COLUMNS, ReportFilter, report

SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
# GitHub code scanning accepts at most 25,000 results per run and drops the run otherwise.
MAX_RESULTS = 25_000
LEVELS = ("error", "warning", "note")  # most severe first: kept first when truncating
FINGERPRINT = "omscanModel/v1"


@dataclass(frozen=True)
class Rule:
    id: str
    level: str
    short: str
    full: str


RULES = {
    rule.id: rule
    for rule in [
        Rule(
            "query-failed",
            "error",
            "The model could not be sized",
            "aclmdlQuerySizeFromMem (or omscan's reader, which answers as it does) returned an "
            "error for this model, or the file could not be read: it would not load either.",
        ),
        Rule(
            "model-grew",
            "warning",
            "The model needs more device memory than before",
            "The model's total memory (work + weights) grew by more than the threshold since "
            "the scan it is compared with.",
        ),
        Rule(
            "exceeds-device-memory",
            "error",
            "The model does not fit the target device",
            "The model's work and weight memory together exceed the usable memory of the "
            "device given with --device or --device-memory.",
        ),
        Rule(
            "dynamic-model",
            "note",
            "The model has dynamic inputs",
            "A dynamic model's work memory is known only once its input shape is set: the "
            "work size reported is not what it will need.",
        ),
    ]
}


@dataclass(frozen=True)
class Finding:
    rule: str
    repository: str
    relpath: str
    message: str
    properties: dict[str, Any] = field(default_factory=dict)
    identity: str = ""  # beyond rule and path, what makes it this finding (the device)


def _sizes(row: dict[str, Any]) -> dict[str, Any]:
    work, weight = int(row["work_size"]), int(row["weight_size"])
    return {"work_size": work, "weight_size": weight, "total_size": work + weight}


def failed_findings(rows: Iterable[dict[str, Any]]) -> list[Finding]:
    findings = []
    for row in rows:
        if row["status"] in NOT_FAILURES:
            continue
        name = f" ({row['ret_name']})" if row.get("ret_name") else ""
        answer = f" {row['ret']}{name}" if row.get("ret") is not None else ""
        reason = f": {row['error']}" if row.get("error") else ""
        findings.append(
            Finding(
                "query-failed",
                row["repository"],
                row["relpath"],
                f"{row['relpath']}: {row['status']}{answer}{reason}",
                {"status": row["status"], "ret": row.get("ret"), **_sizes(row)},
            )
        )
    return findings


def dynamic_findings(rows: Iterable[dict[str, Any]]) -> list[Finding]:
    return [
        Finding(
            "dynamic-model",
            row["repository"],
            row["relpath"],
            f"{row['relpath']}: dynamic model ({row.get('dynamic_reason') or 'dynamic inputs'}); "
            f"work memory depends on the input shape",
            {"status": row["status"], **_sizes(row)},
        )
        for row in rows
        if row["status"] == "ok" and row.get("dynamic")
    ]


def fit_findings(planned: Iterable[dict[str, Any]]) -> list[Finding]:
    """Plan rows (``scanner.ask.plan.plan_models``) of models that do not fit."""
    return [
        Finding(
            "exceeds-device-memory",
            p["repository"],
            p["relpath"],
            f"{p['relpath']} needs {p['total_size']:,} B; {p['device']} offers "
            f"{p['device_memory']:,} B usable",
            {**_sizes(p), "device": p["device"], "device_memory": p["device_memory"]},
            identity=str(p["device"]),
        )
        for p in planned
        if p["fits"] is False
    ]


def growth_findings(changes: Iterable[Change], threshold_pct: float, scan_a: int) -> list[Finding]:
    findings = []
    for change in changes:
        if change.kind != "changed" or change.before is None or change.after is None:
            continue
        growth = change.growth_pct
        if growth <= threshold_pct:
            continue
        before = _sizes(change.before)["total_size"]
        shown = "from nothing" if math.isinf(growth) else f"+{growth:.1f}%"
        findings.append(
            Finding(
                "model-grew",
                change.repository,
                change.relpath,
                f"{change.relpath}: total memory grew from {before:,} B to "
                f"{before + change.delta_total:,} B ({shown}) since scan {scan_a}",
                {
                    **_sizes(change.after),
                    "previous_total_size": before,
                    "growth_pct": None if math.isinf(growth) else round(growth, 3),
                    "compared_scan": scan_a,
                },
            )
        )
    return findings


def sarif_log(findings: Sequence[Finding], max_results: int = MAX_RESULTS) -> dict[str, Any]:
    """One SARIF run; past ``max_results`` the least severe results are left out and a
    notification says how many."""
    ordered = sorted(
        findings, key=lambda f: (LEVELS.index(RULES[f.rule].level), f.repository, f.relpath)
    )
    kept = ordered[:max_results]
    bases = {repo: f"REPO{i}" for i, repo in enumerate(sorted({f.repository for f in kept}), 1)}
    rule_ids = list(RULES)
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if len(ordered) > len(kept):
        invocation["toolExecutionNotifications"] = [
            {
                "level": "warning",
                "message": {
                    "text": f"{len(ordered) - len(kept):,} of {len(ordered):,} results left out: "
                    f"code scanning accepts at most {max_results:,} per run"
                },
            }
        ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "omscan",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": [_rule(RULES[rule_id]) for rule_id in rule_ids],
            }
        },
        "invocations": [invocation],
        "results": [_result(f, rule_ids.index(f.rule), bases[f.repository]) for f in kept],
    }
    if bases:
        run["originalUriBaseIds"] = {
            base: {"uri": PurePosixPath(repo).as_uri() + "/", "description": {"text": repo}}
            for repo, base in bases.items()
        }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def _rule(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": "".join(part.capitalize() for part in rule.id.split("-")),
        "shortDescription": {"text": rule.short},
        "fullDescription": {"text": rule.full},
        "help": {"text": rule.full},
        "defaultConfiguration": {"level": rule.level},
    }


def _result(finding: Finding, rule_index: int, base: str) -> dict[str, Any]:
    identity = "\0".join(
        [finding.rule, os.path.basename(finding.repository), finding.relpath, finding.identity]
    )
    return {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": RULES[finding.rule].level,
        "message": {"text": finding.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": quote(finding.relpath), "uriBaseId": base},
                    # A model is binary; code-scanning pages still want a line to point at.
                    "region": {"startLine": 1},
                }
            }
        ],
        "partialFingerprints": {FINGERPRINT: hashlib.sha256(identity.encode()).hexdigest()},
        "properties": finding.properties,
    }


async def report_sarif(
    store: Store, wanted: ReportFilter, target: Target, growth_pct: float
) -> dict[str, Any]:
    """SARIF for the latest results: failures, dynamic models, growth since the previous
    completed scan, and — when a device is given — models that do not fit it."""
    rows = await report(store, wanted, [*COLUMNS, "error", "dynamic_reason"])
    findings = failed_findings(rows) + dynamic_findings(rows)
    if target.device is not None:
        findings += fit_findings(plan_models(rows, target))
    if len(await last_completed_scans(store)) == 2:
        scan_a, _, changes = await diff_scans(store, None, None)
        listed = {(row["repository"], row["relpath"]) for row in rows}
        shown = [c for c in changes if (c.repository, c.relpath) in listed]
        findings += growth_findings(shown, growth_pct, scan_a)
    return sarif_log(findings)


async def diff_sarif(
    store: Store, scan_a: int | None, scan_b: int | None, target: Target, growth_pct: float
) -> tuple[list[Change], dict[str, Any]]:
    """SARIF for what changed between two scans: models that grew, that fail now, and —
    when a device is given — that no longer fit it (by their sizes in the later scan)."""
    scan_a, _, changes = await diff_scans(store, scan_a, scan_b)
    after = [
        {"repository": c.repository, "relpath": c.relpath, "dynamic": False, **c.after}
        for c in changes
        if c.after is not None
    ]
    findings = failed_findings(after) + growth_findings(changes, growth_pct, scan_a)
    if target.device is not None:
        sized = [row | {"total_size": _sizes(row)["total_size"]} for row in after]
        findings += fit_findings(plan_models(sized, target))
    return changes, sarif_log(findings)
