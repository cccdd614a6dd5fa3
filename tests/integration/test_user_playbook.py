# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""docs/examples/user_playbook.yml (the README quotes it) runs as written on the simulated fleet.

Only the inventory differs from a user's: the fleet's generated inventory plus a group_vars/all.yml that
names the PeopleNet stand-in and the mirror's checksum list, in one inventory directory. Real ssh and
paramiko connections, real downloads from the fleet's mirror, real TensorRT-RTX builds on dgpu-x86, Orin
and Thor, the TensorRT TEST DOUBLE on nano-jp46 and xavier-nx-jp51, smoke tests on onnxruntime-cpu.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
USER_PLAYBOOK = REPO_ROOT / "docs" / "examples" / "user_playbook.yml"
MODEL = "peoplenet_standin"


def test_the_user_playbook_runs_as_written(fleet, ansible, tmp_path):
    subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "fleet" / "demo_model.py"), "--out", fleet.mirror_root],
                   check=True, stdout=subprocess.DEVNULL)
    for host in fleet.hosts:
        shutil.rmtree(host.store, ignore_errors=True)
        os.makedirs(host.store)
    # inventory/demo as the README says (-i inventory/demo -i <fleet inventory>): its group_vars name the model
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "fleet.yml").symlink_to(fleet.inventory)
    (inventory / "group_vars").symlink_to(REPO_ROOT / "inventory" / "demo" / "group_vars")
    assert yaml.safe_load((REPO_ROOT / "inventory" / "demo" / "group_vars" / "all.yml").read_text())["tao_model"] == MODEL
    fleet_view = type(fleet).__new__(type(fleet))
    fleet_view.__dict__.update(fleet.__dict__, inventory=str(inventory))
    runner = type(ansible)(fleet_view, ansible.run_dir / "user", ansible.collections_path)

    # --check on hosts that need everything: says so, and changes nothing
    check = runner.playbook(str(USER_PLAYBOOK), check=True)
    assert check.rc == 0, check.stdout[-5000:] + check.stderr
    for host in fleet.hosts:
        said = check.result(host.name, "Say what runs now")["msg"]
        assert said.startswith("check mode: %s would be downloaded, built" % MODEL), said
        assert os.listdir(host.store) == [], (host.name, os.listdir(host.store))

    run = runner.playbook(str(USER_PLAYBOOK))
    assert run.rc == 0, run.stdout[-5000:] + run.stderr
    for host in fleet.hosts:
        engine = run.result(host.name, "Build the engine for this platform (or reuse the one already built)")
        release = run.result(host.name, "Switch to it atomically (the engine it replaces stays for a rollback)")
        smoke = run.result(host.name, "Run the new engine on a test picture before it goes live")
        assert engine["built"] is True and release["active"] == engine["fingerprint"]
        active = Path(host.store) / "engines" / MODEL / "active"
        assert os.readlink(active) == engine["fingerprint"]
        manifest = json.loads((active / "manifest.json").read_text())
        assert manifest["smoke"]["passed"] is True and smoke["detection_count"] == 3
        said = run.result(host.name, "Say what runs now")["msg"]
        assert said.startswith("%s engine %s is active (built" % (MODEL, engine["fingerprint"][:12])), said


def test_the_readme_quotes_the_user_playbook_as_it_is():
    # The README shows the playbook a user copies; the test above runs the file: both must be the same text.
    readme = (REPO_ROOT / "README.md").read_text()
    blocks = [block.split("```", 1)[0] for block in readme.split("```yaml\n")[1:]]
    assert USER_PLAYBOOK.read_text() in blocks, "README.md must quote docs/examples/user_playbook.yml verbatim"
