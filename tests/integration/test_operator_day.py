# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""An operator's day on the simulated fleet: what the report, the verdict and the recap say when a host is
offline, with --limit, with --check, and around a rollback (issue: "An operator's day").

Real ansible-playbook runs of playbooks/deploy_peoplenet.yml and playbooks/rollback.yml over real ssh to the
session fleet (6 sshd hosts, one per platform class), with inventory/demo's group_vars, as tests/integration/
test_rollout.py does; a host is taken offline for real (`fleet.py link ... down`)."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location("tao_fleet_rollout_helpers", Path(__file__).with_name("test_rollout.py"))
rollout = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(rollout)

ROLLBACK = rollout.REPO_ROOT / "playbooks" / "rollback.yml"
NEW_OPTIONS = {"deploy_model_build_options": {"workspace": "512M"}}


# the session fleet with the demo model served, and the demo inventory over it with empty stores
served = rollout.served
runner = rollout.runner


def said(run, task):
    """Every message the debug task `task` printed, by host."""
    return dict((host, entry["result"]["msg"]) for host, entries in run.results.items()
                for entry in entries if entry["task"] == task and "msg" in entry["result"])


def test_a_host_offline_before_the_run_is_reported_and_fails_in_the_recap(served, runner, tmp_path):
    lost = served.hosts[-1].name
    served.set_link(lost, False)
    try:
        run = rollout.run_rollout(runner, tmp_path / "reports")
    finally:
        served.set_link(lost, True)
    # the plan left it out, the others deployed, and the report and verdict were written
    assert "has no attribute 'platform_class'" not in run.stdout
    entry = run.hosts[lost]
    assert (entry["status"], entry["stage"], entry["error"]["code"]) == ("unreachable", "facts", "host_unreachable")
    assert run.report["rollout"]["canary"]["hosts"] == [h.name for h in served.hosts if h.name != lost]
    for host in served.hosts:
        if host.name != lost:
            assert run.hosts[host.name]["status"] == "deployed" and rollout.link(host)
    message = rollout.final_message(run)
    assert "not on every host: 1 of 6 failed or were unreachable" in message
    assert "%s (unreachable at facts, host_unreachable)" % lost in message
    # the recap tells the truth: the offline host failed, no other host did, and the run exits non-zero
    assert run.rc == 2
    assert run.stats[lost]["failures"] == 1, run.stats[lost]
    assert all(run.stats[h.name]["failures"] == 0 for h in served.hosts if h.name != lost)
    assert "fatal: [%s]: FAILED! => " % lost in run.stdout and "is not on the new engine: unreachable" in run.stdout


def test_limit_still_writes_the_report_and_says_how_it_ended(served, runner, tmp_path):
    first = rollout.run_rollout(runner, tmp_path / "reports-all")
    assert first.rc == 0, first.stdout[-4000:]
    chosen = served.hosts[0].name
    reports = tmp_path / "reports"
    run = runner.playbook(str(rollout.PLAYBOOK), limit=chosen,
                          extra_vars={"fleet_report_dir": str(reports), "deploy_model_smoke_runs": 5})
    assert run.rc == 0, run.stdout[-4000:]
    report = rollout.json.loads((reports / "latest" / "report.json").read_text())
    assert [entry["host"] for entry in report["hosts"]] == [chosen]
    assert report["hosts"][0]["status"] == "unchanged"
    ended = list(said(run, "Say how the rollout ended").values())
    assert len(ended) == 1 and ended[0].startswith(
        "Rollout %s of %s finished on 1 hosts (1 unchanged)." % (report["rollout"]["id"], rollout.MODEL)), ended
    # a no-op run stays changed=0 on its host: writing the report is the controller's business
    assert run.stats[chosen]["changed"] == 0


def test_check_runs_rollbacks_and_redeploys_say_what_they_are(served, runner, tmp_path):
    reports = tmp_path / "reports"
    first = rollout.run_rollout(runner, reports)
    assert first.rc == 0, first.stdout[-4000:]
    engines_a = dict((h.name, rollout.link(h)) for h in served.hosts)
    latest = os.readlink(reports / "latest")

    # --check with new build options: every engine would be built; nothing changes, latest stays
    check = rollout.run_rollout(runner, reports, check=True, **NEW_OPTIONS)
    assert check.rc == 0, check.stdout[-4000:]
    assert check.report_dir.name.endswith("-check") and os.readlink(reports / "latest") == latest
    assert check.report["summary"]["check_mode"] is True
    page = (check.report_dir / "report.html").read_text()
    assert "check mode: nothing was changed" in page and "Rollout succeeded" not in page
    ended = said(check, "tao.fleet.deploy_model : Say how this host ended, and fail it when its deployment failed "
                        "(deploy_model_fail_on_error)")
    assert len(ended) == 6 and all("(would be built)" in text and "(reused)" not in text for text in ended.values())
    for host in served.hosts:
        entry = check.hosts[host.name]
        assert entry["check_mode"] is True and entry["engine"]["how"] == "would be built"
        assert entry["active_engine"] == engines_a[host.name] == rollout.link(host)

    second = rollout.run_rollout(runner, reports, **NEW_OPTIONS)
    assert second.rc == 0, second.stdout[-4000:]
    engines_b = dict((h.name, rollout.link(h)) for h in served.hosts)
    assert all(engines_b[name] != engines_a[name] for name in engines_a)

    # a rollback --check says what would happen and changes nothing
    preview = rollout.run_rollout(runner, reports, check=True, playbook=ROLLBACK)
    assert preview.rc == 0, preview.stdout[-4000:]
    assert (preview.report["summary"]["kind"], preview.report["summary"]["check_mode"]) == ("rollback", True)
    assert "Check run of the rollback (nothing was changed) would succeed" in (preview.report_dir / "report.html").read_text()
    assert dict((h.name, rollout.link(h)) for h in served.hosts) == engines_b

    # a real rollback is a success, and each host says which engine it runs now
    back = rollout.run_rollout(runner, reports, playbook=ROLLBACK)
    assert back.rc == 0, back.stdout[-4000:]
    summary = back.report["summary"]
    assert (summary["kind"], summary["outcome"], summary["by_status"]["rolled_back"]) == ("rollback", "succeeded", 6)
    page = (back.report_dir / "report.html").read_text()
    assert "Rollback succeeded: 6 of 6 hosts returned to their previous engine" in page and "Rollout failed" not in page
    for host in served.hosts:
        entry = back.hosts[host.name]
        assert entry["active_engine"] == engines_a[host.name] == rollout.link(host)
        assert entry["rolled_back_from"] == engines_b[host.name] and entry["platform_class"]
        assert 'data-active="%s"' % engines_a[host.name] in page

    # what is deployed where, as tao.fleet.deployed prints it from the hosts' stores
    status = runner.playbook(str(rollout.REPO_ROOT / "playbooks" / "deployed.yml"))
    assert status.rc == 0, status.stdout[-3000:]
    table = list(said(status, "Print what is deployed where").values())
    assert len(table) == 1 and table[0][0].split()[:3] == ["host", "platform", "class"], table
    rows = dict((line.split()[0], line.split()) for line in table[0][1:])
    assert sorted(rows) == sorted(h.name for h in served.hosts)
    for host in served.hosts:
        row = rows[host.name]
        assert row[1:6] == [back.hosts[host.name]["platform_class"], rollout.MODEL, engines_a[host.name][:12],
                            engines_b[host.name][:12], engines_b[host.name][:12]], row

    # the same options again re-activate the engines just rolled back from: allowed, but said
    again = rollout.run_rollout(runner, reports, **NEW_OPTIONS)
    assert again.rc == 0, again.stdout[-4000:]
    for host in served.hosts:
        entry = again.hosts[host.name]
        assert rollout.link(host) == engines_b[host.name]
        assert len(entry["warnings"]) == 1 and "rolled_back_from" in entry["warnings"][0], entry
    assert again.report["summary"]["warnings"] == 6
    assert again.stdout.count("WARNING: Made active engine") == 6


def test_a_refused_precision_names_a_value_the_role_accepts(served, runner, tmp_path):
    """fp16 on TensorRT-RTX (strongly typed) is refused; the fix it names must then work as written."""
    host = [h for h in served.hosts if h.profile["name"] == "dgpu-x86"][0]
    reports = tmp_path / "reports"

    def deploy(precision):
        run = runner.playbook(str(rollout.PLAYBOOK), limit=host.name, extra_vars={
            "fleet_report_dir": str(reports), "deploy_model_smoke_runs": 3, "deploy_model_precision": precision})
        return run, rollout.json.loads((reports / "latest" / "report.json").read_text())["hosts"][0]

    refused, entry = deploy("fp16")
    assert refused.rc == 2 and refused.stats[host.name]["failures"] == 1
    # the catalog finds no artifact at fp16 here (it crashed on the missing choice.precision before), and its
    # fix names the values that fit; the TensorRT layer's own refusal is the unit tests' (test_trt_request.py)
    assert (entry["status"], entry["stage"], entry["error"]["code"]) == ("failed", "fetch", "no_artifact_fits"), entry
    assert "(precision: fp32, or leave it unset)" in entry["error"]["fix"], entry["error"]
    assert "has no attribute 'precision'" not in refused.stdout
    assert rollout.link(host) is None
    for value in ("fp32", ""):
        run, entry = deploy(value)
        assert run.rc == 0, run.stdout[-3000:]
        assert entry["status"] in ("deployed", "unchanged") and rollout.link(host) == entry["active_engine"]


def test_what_would_fail_late_is_refused_before_any_download(served, runner, tmp_path):
    """A real model on the demo mirror, a real model without a smoke picture, and a picture a host lacks: each
    is refused before a host downloads or builds anything, with the cause."""
    log_lines = Path(served.mirror_log).read_text().count("\n")
    base = {"fleet_report_dir": str(tmp_path / "reports")}
    real = runner.playbook(str(rollout.PLAYBOOK), extra_vars=dict(base, deploy_model_name="trafficcamnet"))
    assert real.rc != 0
    assert "trafficcamnet is not on the model mirror" in real.stdout and "serves only peoplenet_standin" in real.stdout
    assert "checksum list has no single entry" not in real.stdout
    no_picture = runner.playbook(str(rollout.PLAYBOOK), extra_vars=dict(
        base, deploy_model_name="lpdnet", deploy_model_mirror_models=[]))
    assert no_picture.rc != 0 and "lpdnet is a real model: its smoke test needs a picture" in no_picture.stdout
    for run in (real, no_picture):
        assert "PLAY [Canary" not in run.stdout
    missing = "/nonexistent/%s.png" % tmp_path.name
    gone = rollout.run_rollout(runner, tmp_path / "reports-image", deploy_model_smoke_image=missing)
    for host in served.hosts:
        entry = gone.hosts[host.name]
        assert (entry["status"], entry["stage"], entry["error"]["code"]) == ("failed", "facts", "image_missing"), entry
        assert missing in entry["error"]["msg"] and gone.stats[host.name]["failures"] == 1
    # nothing was asked of the mirror, and no store holds anything
    assert Path(served.mirror_log).read_text().count("\n") == log_lines
    for host in served.hosts:
        assert os.listdir(host.store) == [], (host.name, os.listdir(host.store))


def test_a_no_op_run_is_quiet_and_the_report_keeps_the_platform_warnings(served, runner, tmp_path):
    first = rollout.run_rollout(runner, tmp_path / "reports")
    assert first.rc == 0, first.stdout[-4000:]
    second = rollout.run_rollout(runner, tmp_path / "reports")
    assert second.rc == 0, second.stdout[-4000:]
    # no warning repeated per host (Ansible prints warnings on stderr): each host's platform warnings are in its
    # result and the report's row
    output = second.stdout + second.stderr
    assert "[WARNING]" not in output, [line for line in output.splitlines() if "WARNING" in line]
    warned = [h.name for h in served.hosts if second.hosts[h.name]["platform_warnings"]]
    assert warned, "the simulated hosts run a venv TensorRT, which platform_facts warns about"
    assert second.report["summary"]["warnings"] == len(warned)
    page = (second.report_dir / "report.html").read_text()
    assert page.count('class="warning-row"') == len(warned)
    assert ("Platform warnings on %d host(s), in the fleet report" % len(warned)) in \
        said(second, "Say how the rollout ended").popitem()[1]
    for host in served.hosts:
        assert second.stats[host.name]["changed"] == 0 and second.stats[host.name]["failures"] == 0
    # asked for, they are printed
    loud = rollout.run_rollout(runner, tmp_path / "reports", deploy_model_platform_warnings=True)
    assert loud.rc == 0 and loud.stderr.count("[WARNING]") >= len(warned), loud.stderr[-3000:]
