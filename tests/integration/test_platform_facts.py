# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""platform_facts through real ansible-playbook on the simulated fleet: each host reports its own platform.

Each host reads its own sysroot (a copy of tests/fixtures/sysroots/<profile>) with its own Python, over its
own connection; its facts must be the fixture's expected.json, except that the TensorRT that builds is the one
the host's interpreter has (the test double, or the real TensorRT-RTX wheels) and the system's moves to
``tensorrt_others`` with a warning, as field-errors #22 describes for real devices.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SYSROOTS = REPO_ROOT / "tests" / "fixtures" / "sysroots"
HOST_REQUIREMENTS = REPO_ROOT / "tests" / "fleet" / "requirements"
TASK = "Read the platform"
PLAYBOOK = """
- hosts: fleet
  gather_facts: false
  tasks:
    - name: %s
      tao.fleet.platform_facts:
        sysroot: "{{ tao_fleet_sysroot }}"
""" % TASK
# Facts that depend on which TensorRT the interpreter has; compared separately below.
INTERPRETER_DEPENDENT = {"tensorrt", "tensorrt_others", "platform_key", "platform_key_sha256", "warnings",
                         "supported", "reason"}


def expected_facts(host) -> dict:
    return json.loads((SYSROOTS / (host.profile["sysroot"] + ".expected.json")).read_text())["tao_platform"]


def rtx_version(python_minor: str) -> str:
    """The tensorrt-rtx bindings version the host's venv was built with (its requirements file)."""
    text = (HOST_REQUIREMENTS / ("host-py%s.txt" % python_minor)).read_text()
    return re.search(r"^tensorrt-rtx-cu[0-9]+-bindings==(\S+)", text, re.M).group(1)


def facts_of(run, host) -> dict:
    return run.result(host.name, TASK)["ansible_facts"]["tao_platform"]


def check_host(run, host) -> None:
    facts = facts_of(run, host)
    expected = expected_facts(host)
    for name, value in expected.items():
        if name not in INTERPRETER_DEPENDENT:
            assert facts[name] == value, (host.name, name)
    assert facts["sysroot"] == host.sysroot
    assert facts["python"]["executable"] == host.python
    assert facts["python"]["version"].startswith(host.profile["python"] + ".")

    provider = host.profile["tensorrt"]
    trt = facts["tensorrt"]
    assert trt["scope"] == "interpreter" and trt["interpreter"] == host.python
    if provider["provider"] == "double":
        assert (trt["package"], trt["flavour"], trt["test_double"], trt["version"]) == \
            ("tensorrt", "tensorrt", True, provider["version"])
    else:
        assert (trt["package"], trt["flavour"], trt["test_double"], trt["version"]) == \
            ("tensorrt_rtx_bindings", "tensorrt_rtx", False, rtx_version(host.profile["python"]))
    assert facts["tensorrt_others"] == [expected["tensorrt"]]

    key = dict(expected["platform_key"], tensorrt=trt["version"], tensorrt_flavour=trt["flavour"])
    if trt["test_double"]:
        key["test_double"] = "true"
    assert facts["platform_key"] == key
    assert facts["platform_key_sha256"] == hashlib.sha256(
        json.dumps(key, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert facts["supported"] is True and facts["reason"] is None

    mismatch = [w for w in facts["warnings"] if "Engines are built with the interpreter's" in w]
    assert len(mismatch) == 1 and host.python in mismatch[0] and expected["tensorrt"]["version"] in mismatch[0]
    assert "ansible_python_interpreter: /usr/bin/python3" in mismatch[0]
    rtx_warning = [w for w in facts["warnings"] if "builds for RTX GPUs" in w]
    assert len(rtx_warning) == (1 if trt["flavour"] == "tensorrt_rtx" and facts["kind"] == "jetson" else 0)
    assert set(facts["warnings"]) <= set(run.result(host.name, TASK).get("warnings", []))


def test_each_host_reports_its_own_platform(fleet, ansible):
    run = ansible.playbook(PLAYBOOK)
    assert run.rc == 0, run.stdout + run.stderr
    for host in fleet.hosts:
        assert run.stats[host.name]["failures"] == 0 and run.stats[host.name]["changed"] == 0
        check_host(run, host)
    keys = {facts_of(run, host)["platform_key_sha256"] for host in fleet.hosts}
    classes = {facts_of(run, host)["platform_class"] for host in fleet.hosts}
    assert len(keys) == len(classes) == len(fleet.hosts)


def test_check_mode_reports_the_same_facts(fleet, ansible):
    normal = ansible.playbook(PLAYBOOK)
    checked = ansible.playbook(PLAYBOOK, check=True)
    assert normal.rc == checked.rc == 0, checked.stdout + checked.stderr
    for host in fleet.hosts:
        assert checked.stats[host.name]["changed"] == 0
        assert facts_of(checked, host) == facts_of(normal, host)


def test_a_host_reads_an_image_without_its_interpreter(fleet, ansible):
    """probe_interpreter: false describes only the files: the fixture's expected facts, exactly."""
    playbook = PLAYBOOK.replace('sysroot: "{{ tao_fleet_sysroot }}"',
                                'sysroot: "{{ tao_fleet_sysroot }}"\n        probe_interpreter: false')
    run = ansible.playbook(playbook)
    assert run.rc == 0, run.stdout + run.stderr
    for host in fleet.hosts:
        facts = facts_of(run, host)
        for name, value in expected_facts(host).items():
            assert facts[name] == value, (host.name, name)
