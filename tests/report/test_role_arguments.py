# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""Role tao.fleet.fleet_report refuses bad variables before any task, and writes in check mode."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PLAY = """
- name: Report on the controller alone
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write the fleet report
      ansible.builtin.include_role:
        name: tao.fleet.fleet_report
"""


def play(workdir, collections, extra_vars, check=False):
    playbook = workdir / "arguments.yml"
    playbook.write_text(PLAY)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(playbook),
               "-e", json.dumps(extra_vars)] + (["--check"] if check else [])
    return subprocess.run(command, env=env, cwd=str(workdir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300, check=False)


@pytest.mark.parametrize("name,value,complaint", [
    ("fleet_report_missing_status", "gone", "fleet_report_missing_status must be one of"),
    ("fleet_report_rollout", "halted", "fleet_report_rollout"),
    ("fleet_report_latest_link", "sometimes", "fleet_report_latest_link"),
])
def test_bad_variables_fail_before_any_task(workdir, collections, tmp_path, name, value, complaint):
    run = play(workdir, collections, {name: value, "fleet_report_dir": str(tmp_path / "reports")})
    assert run.returncode != 0 and complaint in run.stdout, run.stdout
    assert "Validating arguments against arg spec" in run.stdout
    assert "Write the fleet report on the controller" not in run.stdout
    assert not (tmp_path / "reports").exists()


def test_check_mode_still_writes_the_report(workdir, collections, tmp_path):
    run = play(workdir, collections, {"fleet_report_dir": str(tmp_path / "reports"), "fleet_report_hosts": ["ghost"]},
               check=True)
    assert run.returncode == 0, run.stdout
    data = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    assert [(host["host"], host["status"]) for host in data["hosts"]] == [("ghost", "unreachable")]
