# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The fleet report that role tao.fleet.fleet_report writes, opened in headless Chromium.

Why selenium with chromedriver: ``get_log('browser')`` returns every console message of the page,
including the errors Chromium itself logs for a blocked or failed request (CSP violations, failed
loads), with a level; ``get_log('performance')`` lists every request the page made, which proves it
fetches nothing; and the same session prints to PDF and takes the screenshot through CDP. Reading
``--enable-logging=stderr`` of ``--headless --dump-dom`` instead mixes the page's console with
Chromium's own start-up noise (D-Bus, GPU), and playwright-core needs a Node.js toolchain.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from conftest import REPO, SCENARIOS

PROBLEMS = ("failed", "unreachable")
SCREENSHOT_SCENARIO = "wave_rollback"
FAILING_SCENARIOS = ("canary_failure", "wave_rollback", "all_failed")


def load(browser, path: Path):
    """Open the page fresh and return (console entries, URLs it requested)."""
    browser.get("about:blank")
    browser.get_log("browser")
    browser.get_log("performance")
    url = path.as_uri()
    browser.get(url)
    console = browser.get_log("browser")
    requests = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent" and message["params"].get("documentURL") == url:
            requests.append(message["params"]["request"]["url"])
    return console, requests


def report_json(run) -> dict:
    return json.loads((run.directory / "report.json").read_text())


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_role_writes_the_report_also_when_the_rollout_fails(reports, scenario):
    run = reports[scenario]
    assert sorted(path.name for path in run.directory.iterdir()) == [
        "report.html", "report.json", "report.junit.xml"], run.output
    assert ("Fleet report (" in run.output and "file://%s" % (run.directory / "report.html") in run.output), run.output
    fixture = json.loads((Path(__file__).parent / "fixtures" / (scenario + ".json")).read_text())
    data = report_json(run)
    assert data["schema"] == 1 and sorted(host["host"] for host in data["hosts"]) == sorted(fixture["hosts"])
    if scenario in FAILING_SCENARIOS:
        assert run.rc != 0 and data["summary"]["outcome"] == "failed"
    cases = ET.parse(str(run.directory / "report.junit.xml")).getroot().findall("testsuite/testcase")
    assert [case.get("name") for case in cases] == [host["host"] for host in data["hosts"]]


def test_host_without_a_result_was_really_unreachable(reports):
    run = reports["unreachable"]
    assert "UNREACHABLE!" in run.output and run.rc != 0
    entry = report_json(run)["hosts"][0]
    assert (entry["host"], entry["status"], entry["reported"]) == ("agx-orin-jp62", "unreachable", False)


def test_all_failed_replay_failed_every_host(reports):
    run = reports["all_failed"]
    assert run.output.count("FAILED!") >= 6
    assert report_json(run)["summary"]["by_status"]["failed"] == 6


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_page_loads_clean_and_lists_failed_hosts_first(browser, reports, scenario):
    run = reports[scenario]
    page = run.directory / "report.html"
    console, requests = load(browser, page)
    assert [entry for entry in console if entry["level"] in ("SEVERE", "WARNING")] == [], console
    assert requests and all(url == page.as_uri() for url in requests), requests

    data = report_json(run)
    rows = browser.find_elements(By.CSS_SELECTOR, "table.hosts tbody tr.host-row")
    assert len(rows) == len(data["hosts"])
    assert [row.get_attribute("data-host") for row in rows] == [host["host"] for host in data["hosts"]]
    statuses = [row.get_attribute("data-status") for row in rows]
    problems = [status in PROBLEMS for status in statuses]
    assert problems == sorted(problems, reverse=True), statuses
    assert all(row.is_displayed() and row.size["height"] > 0 for row in rows)

    chart_rows = browser.find_elements(By.CSS_SELECTOR, "svg.chart g.chart-row")
    assert [row.get_attribute("data-platform-class") for row in chart_rows] == [
        row["platform_class"] for row in data["chart"]["classes"]]
    # the page fits a 1500 px wide window: nothing hidden to the right
    assert browser.execute_script("return document.documentElement.scrollWidth") <= \
        browser.execute_script("return window.innerWidth")
    # and so does the host table at 1280 px: its scroll box hid the columns past ~1300 px, which the page's own
    # width never showed
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})
    try:
        overflow = browser.execute_script(
            "return Array.from(document.querySelectorAll('.table-wrap, .chart-wrap'))"
            ".map(e => [e.className, e.scrollWidth, e.clientWidth]).filter(x => x[1] > x[2]);")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert overflow == [], overflow


def test_page_prints(browser, reports):
    page = reports[SCREENSHOT_SCENARIO].directory / "report.html"
    load(browser, page)
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        pdf = base64.b64decode(browser.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})["data"])
        assert browser.get_log("browser") == []
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    assert pdf.startswith(b"%PDF-") and len(pdf) > 10000


def test_screenshot_for_the_docs(browser, reports, tmp_path):
    page = reports[SCREENSHOT_SCENARIO].directory / "report.html"
    load(browser, page)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 1500, "height": height, "deviceScaleFactor": 1, "mobile": False})
    try:
        shot = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    png = base64.b64decode(shot["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, shot_height = struct.unpack(">II", png[16:24])
    assert width == 1500 and shot_height == height
    target = tmp_path / "fleet-report.png"
    target.write_bytes(png)
    if os.environ.get("TAO_FLEET_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(str(target), str(REPO / "docs" / "img" / "fleet-report.png"))
