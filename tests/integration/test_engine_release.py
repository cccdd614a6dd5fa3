# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""tao.fleet.engine_release on every host of the simulated fleet, over real ssh/paramiko connections.

No TensorRT runs here: each host's own Python writes stand-in engine files (marked as such) into its
store through the collection's store API, then the module releases them. The kill -9 proofs are in
tests/unit/plugins/module_utils/test_store.py (real processes, every step of a release).
"""
from __future__ import annotations

import json
import os
import re
import shutil

import pytest

MODEL = "release_it"  # a model name no other test uses, so the stores' other engines stay untouched

SEED = r'''
import hashlib, json, sys
from ansible_collections.tao.fleet.plugins.module_utils._fingerprint import engine_fingerprint
from ansible_collections.tao.fleet.plugins.module_utils._store import EngineStore

store_root, model, host = sys.argv[1:4]
store = EngineStore(store_root)
fingerprints = {}
for name, smoke in (("A", True), ("B", True), ("C", False), ("D", None)):
    payload = ("%s-%s" % (host, name)).encode()
    fingerprint, inputs = engine_fingerprint(hashlib.sha256(payload).hexdigest(), {"profile": host}, {"precision": "fp16"})
    if not store.verify(model, fingerprint).intact:
        build_dir = store.temp_dir(model)
        store.write_engine(build_dir, b"STAND-IN ENGINE (integration test, not a TensorRT plan): " + payload)
        store.write_manifest(build_dir, fingerprint, inputs, build={"note": "integration test stand-in"})
        store.publish(model, build_dir)
        if smoke is not None:
            store.record_smoke(model, fingerprint, smoke, backend="integration-test",
                               detections=1 if smoke else 0, reason=None if smoke else "no person detected")
    fingerprints[name] = fingerprint
print(json.dumps({"python": sys.version.split()[0], "engines": fingerprints}))
'''


def release_task(name, fingerprint_key=None, **options):
    lines = ["    - name: %s" % name, "      tao.fleet.engine_release:", "        model: %s" % MODEL,
             "        store: \"{{ tao_fleet_store }}\""]
    if fingerprint_key:
        lines.append("        fingerprint: \"{{ engines[inventory_hostname].%s }}\"" % fingerprint_key)
    for key, value in options.items():
        if key.startswith("task_"):
            continue
        lines.append("        %s: %s" % (key, value))
    for key, value in options.items():
        if key.startswith("task_"):
            lines.append("      %s: %s" % (key[len("task_"):], value))
    return "\n".join(lines)


def playbook(*tasks):
    return "- hosts: all\n  gather_facts: false\n  tasks:\n" + "\n".join(tasks) + "\n"


def links(host):
    model_dir = os.path.join(host.store, "engines", MODEL)
    result = {}
    for name in ("active", "previous", "rolled_back_from"):
        path = os.path.join(model_dir, name)
        result[name] = os.readlink(path) if os.path.islink(path) else None
    return result


def active_bytes(host):
    with open(os.path.join(host.store, "engines", MODEL, "active", "model.engine"), "rb") as handle:
        return handle.read()


@pytest.fixture
def engines(fleet, ansible, collections_path, tmp_path):
    """Stand-in engines A, B (smoke passed), C (smoke failed), D (no smoke test) in every host's
    store, written there by each host's own Python; returns {host: {A: fingerprint, ...}}."""
    for host in fleet.hosts:
        shutil.rmtree(os.path.join(host.store, "engines", MODEL), ignore_errors=True)
    seed = tmp_path / "seed_engines.py"
    seed.write_text(SEED)
    run = ansible.playbook(playbook(
        "    - name: seed engines\n"
        "      ansible.builtin.script:\n"
        "        cmd: \"%s {{ tao_fleet_store }} %s {{ inventory_hostname }}\"\n"
        "        executable: \"{{ ansible_python_interpreter }}\"\n"
        "      environment:\n"
        "        PYTHONPATH: \"%s\"\n" % (seed, MODEL, collections_path)))
    assert run.rc == 0, run.stdout + run.stderr
    seeded = {}
    for host in fleet.hosts:
        # the script's JSON is its last line: the host's login shell may print first (pyenv's rehash does)
        output = json.loads(run.result(host.name, "seed engines")["stdout"].strip().splitlines()[-1])
        assert output["python"].startswith(host.profile["python"] + "."), output
        seeded[host.name] = output["engines"]
    return seeded


def test_release_idempotence_check_diff_and_rollback(fleet, ansible, engines):
    hosts = [host.name for host in fleet.hosts]
    extra = {"engines": engines}

    first = ansible.playbook(playbook(release_task("release A", "A")), extra_vars=extra)
    assert first.rc == 0, first.stdout + first.stderr
    for host in fleet.hosts:
        result = first.result(host.name, "release A")
        assert result["changed"] is True and result["active"] == engines[host.name]["A"]
        assert links(host) == {"active": engines[host.name]["A"], "previous": None, "rolled_back_from": None}
        assert active_bytes(host).endswith(("%s-A" % host.name).encode())

    again = ansible.playbook(playbook(release_task("release A", "A")), extra_vars=extra)
    assert again.rc == 0, again.stdout + again.stderr
    assert {host: again.stats[host]["changed"] for host in hosts} == {host: 0 for host in hosts}

    preview = ansible.playbook(playbook(release_task("release B", "B")), extra_vars=extra, check=True, diff=True)
    assert preview.rc == 0, preview.stdout + preview.stderr
    for host in fleet.hosts:
        a, b = engines[host.name]["A"], engines[host.name]["B"]
        result = preview.result(host.name, "release B")
        assert result["changed"] is True and result["active"] == b and result["previous"] == a
        assert result["diff"] == {"before": {"active": a, "previous": None}, "after": {"active": b, "previous": a}}
        assert re.search(r'^\+\s+"active": "%s"' % b, preview.stdout, re.M), preview.stdout
        assert links(host)["active"] == a  # check mode changed nothing

    second = ansible.playbook(playbook(release_task("release B", "B")), extra_vars=extra, diff=True)
    assert second.rc == 0, second.stdout + second.stderr
    for host in fleet.hosts:
        a, b = engines[host.name]["A"], engines[host.name]["B"]
        assert second.result(host.name, "release B")["diff"]["after"] == {"active": b, "previous": a}
        assert links(host) == {"active": b, "previous": a, "rolled_back_from": None}


def test_release_refuses_engines_without_a_passed_smoke_test(fleet, ansible, engines):
    extra = {"engines": engines}
    run = ansible.playbook(playbook(
        release_task("release A", "A"),
        release_task("release C", "C", task_ignore_errors="true"),
        release_task("release D", "D", task_ignore_errors="true"),
    ), extra_vars=extra)
    assert run.rc == 0, run.stdout + run.stderr
    for host in fleet.hosts:
        for name, reason in (("C", "no person detected"), ("D", "no smoke test")):
            entry = [e for e in run.results[host.name] if e["task"] == "release %s" % name][-1]
            assert entry["failed"] is True
            result = entry["result"]
            assert result["error_code"] == "not_smoke_tested"
            assert engines[host.name][name] in result["msg"] and reason in result["msg"]
            assert "force: true" in result["fix"]
        assert links(host)["active"] == engines[host.name]["A"]
        assert active_bytes(host).endswith(("%s-A" % host.name).encode())

    forced = ansible.playbook(playbook(release_task("release D", "D", force="true")), extra_vars=extra)
    assert forced.rc == 0, forced.stdout + forced.stderr
    for host in fleet.hosts:
        result = forced.result(host.name, "release D")
        assert result["changed"] is True and result["active"] == engines[host.name]["D"]
        assert any("force" in warning for warning in result.get("warnings", [])), result


def test_rollback_returns_to_previous_once(fleet, ansible, engines):
    extra = {"engines": engines}
    setup = ansible.playbook(playbook(release_task("release A", "A"), release_task("release B", "B")),
                             extra_vars=extra)
    assert setup.rc == 0, setup.stdout + setup.stderr

    rollback = release_task("roll back", "B", state="rolled_back")
    first = ansible.playbook(playbook(rollback), extra_vars=extra, diff=True)
    assert first.rc == 0, first.stdout + first.stderr
    for host in fleet.hosts:
        a, b = engines[host.name]["A"], engines[host.name]["B"]
        result = first.result(host.name, "roll back")
        assert result["changed"] is True and result["rolled_back_from"] == b
        assert links(host) == {"active": a, "previous": b, "rolled_back_from": b}
        assert active_bytes(host).endswith(("%s-A" % host.name).encode())

    again = ansible.playbook(playbook(rollback, release_task("roll back without fingerprint", state="rolled_back")),
                             extra_vars=extra)
    assert again.rc == 0, again.stdout + again.stderr
    for host in fleet.hosts:
        assert again.stats[host.name]["changed"] == 0
        assert links(host)["active"] == engines[host.name]["A"]
