# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The fleet report, end to end: role tao.fleet.fleet_report in a real ansible-playbook run, then the
page it wrote in Debian's headless Chromium.

Each fixture in fixtures/ (a result set of a rollout) is replayed by a playbook: every host with a
result is a local-connection host that records it with set_fact and fails when its rollout failed;
every host without one is an ssh host on a closed loopback port, so Ansible finds it really
unreachable. The role runs in the block's ``always`` section, as a rollout playbook runs it.

Fixtures:
- ``reports`` (session): {scenario: PlaybookRun (rc, output, report directory)} of the replays.
- ``collections`` (session): a collections path holding this repository as tao.fleet.
- ``browser`` (session): selenium's Chrome driver on /usr/bin/chromium with /usr/bin/chromedriver,
  recording the browser console (``get_log('browser')``) and network (``get_log('performance')``).

Needs the apt packages chromium and chromium-driver, and tests/report/requirements.txt (selenium,
ansible-core) in a Python 3.11 venv:
    python -m pytest tests/report
TAO_FLEET_UPDATE_SCREENSHOT=1 also copies the screenshot to docs/img/fleet-report.png.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SCENARIOS = sorted(path.stem for path in FIXTURES.glob("*.json"))
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Flags from the workplace notes: no GPU, no sandbox as root, and nothing that phones home.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--window-size=1500,1000")

PLAYBOOK = """
- name: Replay a rollout from a result set, then write its fleet report
  hosts: fleet
  gather_facts: false
  vars:
    fixture: "{{ lookup('ansible.builtin.file', fixture_path) | from_json }}"
  tasks:
    - name: Rollout
      block:
        - name: Reach the host (the rollout's first task)
          ansible.builtin.ping:
        - name: Record the host's rollout result
          ansible.builtin.set_fact:
            deploy_model_result: "{{ fixture.results[inventory_hostname] }}"
          when: inventory_hostname in fixture.results
        - name: Fail as the host failed
          ansible.builtin.fail:
            msg: "{{ deploy_model_result.error.msg | default('failed') }}"
          when: deploy_model_result is defined and deploy_model_result.status == 'failed'
      always:
        - name: Write the fleet report
          ansible.builtin.include_role:
            name: tao.fleet.fleet_report
          vars:
            fleet_report_dir: "{{ reports_dir }}"
            fleet_report_name: "{{ scenario }}"
            fleet_report_rollout: "{{ fixture.rollout }}"
"""


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def inventory(data: dict, port: int) -> dict:
    hosts = {}
    for host in data["hosts"]:
        if host in data["results"]:
            hosts[host] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        else:
            hosts[host] = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": port,
                           "ansible_user": "nobody"}
    return {"fleet": {"hosts": hosts}}


class PlaybookRun:
    def __init__(self, rc: int, output: str, directory: Path):
        self.rc = rc
        self.output = output
        self.directory = directory


@pytest.fixture(scope="session")
def workdir():
    path = Path(tempfile.mkdtemp(prefix="tao-fleet-report-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def collections(workdir) -> Path:
    """A collections path where ansible_collections/tao/fleet is this repository."""
    path = workdir / "collections"
    (path / "ansible_collections" / "tao").mkdir(parents=True)
    (path / "ansible_collections" / "tao" / "fleet").symlink_to(REPO)
    return path


@pytest.fixture(scope="session")
def reports(workdir, collections) -> dict:
    playbook = workdir / "replay.yml"
    playbook.write_text(PLAYBOOK)
    reports_dir = workdir / "reports"
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_HOST_KEY_CHECKING="False",
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORKS="12", ANSIBLE_PIPELINING="True",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_RETRY_FILES_ENABLED="False",
               ANSIBLE_SSH_ARGS="-o ConnectTimeout=5 -o BatchMode=yes")
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    runs = {}
    for scenario in SCENARIOS:
        data = json.loads((FIXTURES / (scenario + ".json")).read_text())
        hosts_file = workdir / ("%s.inventory.json" % scenario)
        hosts_file.write_text(json.dumps(inventory(data, closed_port())))
        command = [str(ansible_playbook), "-i", str(hosts_file), str(playbook),
                   "-e", json.dumps({"fixture_path": str(FIXTURES / (scenario + ".json")),
                                     "reports_dir": str(reports_dir), "scenario": scenario})]
        process = subprocess.run(command, env=env, cwd=str(workdir), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, timeout=600, check=False)
        runs[scenario] = PlaybookRun(process.returncode, process.stdout, reports_dir / scenario)
    return runs


@pytest.fixture(scope="session")
def browser():
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            pytest.fail("%s is missing: apt-get install %s (tests/setup installs it)" % (path, package))
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="tao-fleet-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + ("--user-data-dir=%s" % profile,):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # An explicit driver path: selenium never runs Selenium Manager (which would download a driver).
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
