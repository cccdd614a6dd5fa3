# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""tao.fleet.model_fetch on every host of the simulated fleet, through real ansible-playbook, from the fleet's
model mirror (tests/fleet/mirror.py at fleet.mirror_url, speaking NGC's URL and auth shapes).

Each host fetches from its own NGC-shaped path (``taofleetit/fetch/<host>:<version>``) so that a fault
counted per request ("first request only") hits every host once. Each test serves content no other test
serves, so the hosts' content-addressed stores never answer one test with another's file. Assertions come
from three places: the module's result, the mirror's JSONL request log, and the files in each host's store.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ORG, TEAM, FILE = "taofleetit", "fetch", "model.etlt"
MODEL_SIZE = 2 * 1024 * 1024 + 77
TASK = "Fetch the model"
# A legacy-style NGC key: traded at the mirror's /token for a session token, as at authn.nvidia.com.
API_KEY = "taofleetIT0legacyKEY0must0never0leak0a1b2c3d4e5f6"


def _mirror_client(url):
    spec = importlib.util.spec_from_file_location("tao_fleet_it_mirror", REPO_ROOT / "tests" / "fleet" / "mirror.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MirrorClient(url)


def payload(seed: str, size: int = MODEL_SIZE) -> bytes:
    blocks = [hashlib.sha256(("%s-%d" % (seed, i)).encode()).digest() for i in range(size // 32 + 1)]
    return b"".join(blocks)[:size]


def legacy_path(host: str, version: str) -> str:
    return "/v2/models/%s/%s/%s/versions/%s/files/%s" % (ORG, TEAM, host, version, FILE)


def api_path(host: str, version: str) -> str:
    return "/v2/models/org/%s/team/%s/%s/%s/files" % (ORG, TEAM, host, version)


class Served:
    """One model version, published on the mirror under every host's path."""

    def __init__(self, fleet, version: str):
        self.version = version
        self.data = payload("%s-%s" % (version, time.time()))
        self.sha256 = hashlib.sha256(self.data).hexdigest()
        for host in fleet.hosts:
            path = Path(fleet.mirror_root) / legacy_path(host.name, version).lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.data)


def fetch_playbook(version: str, sha256: str, **options) -> str:
    lines = [
        "- hosts: fleet",
        "  gather_facts: false",
        "  tasks:",
        "    - name: %s" % TASK,
        "      tao.fleet.model_fetch:",
        "        ngc: \"%s/%s/{{ inventory_hostname }}:%s\"" % (ORG, TEAM, version),
        "        file: %s" % FILE,
        "        ngc_base_url: \"{{ tao_mirror_url }}\"",
        "        sha256: %s" % sha256,
        "        store: \"{{ tao_fleet_store }}\"",
    ]
    for key, value in options.items():
        lines.append("        %s: %s" % (key, value))
    return "\n".join(lines) + "\n"


def mirror_log(fleet, since: float) -> list:
    entries = []
    with open(fleet.mirror_log) as log:
        for line in log:
            entry = json.loads(line)
            if entry["ts"] >= since and ("/%s/" % ORG in entry["path"] or entry["path"] == "/token"):
                entries.append(entry)
    # The mirror logs an answer when it ends; order by arrival (a redirect may end after its follow-up).
    return sorted(entries, key=lambda e: e["ts"])


def requests_for(entries: list, path: str) -> list:
    return [e for e in entries if e["path"] == path]


def store_file(host, sha256: str) -> Path:
    return Path(host.store) / "models" / sha256


def partials(host) -> list:
    directory = Path(host.store) / "models" / ".partial"
    return sorted(p.name for p in directory.iterdir() if not p.name.endswith(".lock")) if directory.is_dir() else []


def test_cut_at_60_percent_resumes_and_transfers_only_the_rest(fleet, ansible):
    served = Served(fleet, "cut60")
    cut = int(MODEL_SIZE * 0.6)
    mirror = _mirror_client(fleet.mirror_url)
    for host in fleet.hosts:
        mirror.set_fault(legacy_path(host.name, served.version), cut_at=0.6, times=1)
    started = time.time()

    first = ansible.playbook(fetch_playbook(served.version, served.sha256, retries=0))
    assert first.rc != 0
    for host in fleet.hosts:
        result = first.result(host.name, TASK)
        assert first.stats[host.name]["failures"] == 1
        assert result["error_code"] == "transfer_interrupted", (host.name, result)
        assert "after %d of %d bytes" % (cut, MODEL_SIZE) in result["msg"] and "resumes" in result["fix"]
        assert not store_file(host, served.sha256).exists()
        partial = Path(host.store) / "models" / ".partial" / served.sha256
        assert partial.stat().st_size == cut and partial.read_bytes() == served.data[:cut]

    second = ansible.playbook(fetch_playbook(served.version, served.sha256, retries=0))
    assert second.rc == 0, second.stdout
    log = mirror_log(fleet, started)
    for host in fleet.hosts:
        result = second.result(host.name, TASK)
        assert result["changed"] and not result["cache_hit"]
        assert result["resumed_from"] == cut and result["bytes_transferred"] == MODEL_SIZE - cut, (host.name, result)
        assert store_file(host, served.sha256).read_bytes() == served.data
        assert partials(host) == []
        file_requests = requests_for(log, legacy_path(host.name, served.version))
        assert [(e["status"], e["range"], e["bytes_sent"], e["cut"]) for e in file_requests] == [
            (200, None, cut, True), (206, "bytes=%d-" % cut, MODEL_SIZE - cut, False)], host.name
        assert [e["status"] for e in requests_for(log, api_path(host.name, served.version))] == [302, 302]


def test_second_run_is_unchanged_and_moves_no_bytes(fleet, ansible):
    served = Served(fleet, "again")
    playbook = fetch_playbook(served.version, served.sha256, name="it_again")

    checked = ansible.playbook(playbook, check=True)
    assert checked.rc == 0, checked.stdout
    for host in fleet.hosts:
        assert checked.result(host.name, TASK)["changed"] and not store_file(host, served.sha256).exists()

    first = ansible.playbook(playbook)
    assert first.rc == 0, first.stdout
    after_first = time.time()
    second = ansible.playbook(playbook)
    assert second.rc == 0, second.stdout
    for host in fleet.hosts:
        result = second.result(host.name, TASK)
        assert result["changed"] is False and result["cache_hit"] is True, (host.name, result)
        assert result["bytes_transferred"] == 0 and result["attempts"] == []
        assert result["path"] == str(store_file(host, served.sha256))
        assert os.readlink(Path(host.store) / "models" / "by-name" / "it_again") == "../" + served.sha256
        assert second.stats[host.name]["changed"] == 0
        assert first.result(host.name, TASK)["bytes_transferred"] == MODEL_SIZE
    assert [e for e in mirror_log(fleet, after_first) if "/again/" in e["path"]] == []


def test_corrupt_download_fails_and_leaves_the_cached_file_intact(fleet, ansible):
    good, newer = Served(fleet, "good"), Served(fleet, "newer")
    first = ansible.playbook(fetch_playbook(good.version, good.sha256, name="it_corrupt"))
    assert first.rc == 0, first.stdout
    mirror = _mirror_client(fleet.mirror_url)
    for host in fleet.hosts:
        mirror.set_fault(legacy_path(host.name, newer.version), corrupt=True)
    started = time.time()

    bad = ansible.playbook(fetch_playbook(newer.version, newer.sha256, name="it_corrupt", retries=0))
    assert bad.rc != 0
    log = mirror_log(fleet, started)
    for host in fleet.hosts:
        result = bad.result(host.name, TASK)
        assert bad.stats[host.name]["failures"] == 1
        assert result["error_code"] == "checksum_mismatch", (host.name, result)
        assert "expected %s" % newer.sha256 in result["msg"] and fleet.mirror_url in result["msg"]
        assert store_file(host, good.sha256).read_bytes() == good.data
        assert not store_file(host, newer.sha256).exists() and partials(host) == []
        assert os.readlink(Path(host.store) / "models" / "by-name" / "it_corrupt") == "../" + good.sha256
        served = requests_for(log, legacy_path(host.name, newer.version))
        assert [(e["status"], e["bytes_sent"]) for e in served] == [(200, MODEL_SIZE)]
        assert served[0]["fault"] == {"corrupt": True}


def test_api_key_goes_only_to_ngc_and_never_appears_in_output_or_logs(fleet, ansible):
    served = Served(fleet, "private")
    mirror = _mirror_client(fleet.mirror_url)
    mirror.set_api_key(API_KEY)
    try:
        for host in fleet.hosts:
            mirror.set_fault(api_path(host.name, served.version), require_auth=True)
            mirror.set_fault("/site" + api_path(host.name, served.version), status=404)
        options = {"mirror_url": "\"{{ tao_mirror_url }}/site\"", "ngc_auth_url": "\"{{ tao_mirror_url }}/token\"",
                   "retries": 0}

        denied = ansible.playbook(fetch_playbook(served.version, served.sha256, **options))
        assert denied.rc != 0
        for host in fleet.hosts:
            result = denied.result(host.name, TASK)
            assert denied.stats[host.name]["failures"] == 1
            assert result["error_code"] == "all_sources_failed", (host.name, result)
            assert [s["code"] for s in result["error_details"]["sources"]] == ["http_404", "http_401"]
            assert "api_key" in result["fix"]

        started = time.time()
        run = ansible.playbook(fetch_playbook(served.version, served.sha256, api_key="\"{{ ngc_key }}\"",
                                              **options), extra_vars={"ngc_key": API_KEY}, verbosity=3)
        assert run.rc == 0, run.stdout
    finally:
        mirror.set_api_key(None)
    log = mirror_log(fleet, started)
    for host in fleet.hosts:
        result = run.result(host.name, TASK)
        assert result["changed"] and store_file(host, served.sha256).read_bytes() == served.data
        site = requests_for(log, "/site" + api_path(host.name, served.version))
        ngc = requests_for(log, api_path(host.name, served.version))
        files = requests_for(log, legacy_path(host.name, served.version))
        assert [(e["auth"], e["status"]) for e in site] == [(False, 404)], host.name
        assert [(e["auth_scheme"], e["status"]) for e in ngc] == [("Bearer", 302)], host.name
        assert [(e["auth_scheme"], e["status"]) for e in files] == [("Bearer", 200)], host.name
    tokens = [e for e in log if e["path"] == "/token"]
    assert len(tokens) == len(fleet.hosts) and {(e["auth_scheme"], e["status"]) for e in tokens} == {("Basic", 200)}

    texts = {"stdout": run.stdout, "stderr": run.stderr, "ansible log (-vvv)": run.log_text,
             "recorded results": json.dumps(run.results), "mirror log": Path(fleet.mirror_log).read_text()}
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in run.stdout  # -vvv printed the (masked) module arguments
    for host in fleet.hosts:
        remote_tmp = Path(host.store).parent / "tmp"
        for path in list(Path(host.store).rglob("*")) + list(remote_tmp.rglob("*")):
            if path.is_file() and not path.name.startswith(served.sha256):
                texts["store file %s" % path] = path.read_bytes().decode("latin-1")
    for what, text in texts.items():
        assert API_KEY not in text, "the API key appears in %s" % what
