"""The Python environment of a simulated host: a venv of its profile's Python holding what that platform has.

Venvs are cached under ~/.cache/tao_fleet/hostvenvs/<key>, where key hashes the interpreter, the requirements
file and the TensorRT test double (version and source). Hosts with the same key share one venv and only read
it. A venv is built in a temporary directory next to its final place, then renamed into place, so a crash
never leaves a half-built venv where a host would use it.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from errors import FleetError

FLEET_DIR = Path(__file__).resolve().parent
REPO_ROOT = FLEET_DIR.parent.parent
REQUIREMENTS_DIR = FLEET_DIR / "requirements"
DOUBLES_DIR = REPO_ROOT / "tests" / "doubles"
DOUBLE_INSTALLER = DOUBLES_DIR / "install.py"
CACHE_DIR = Path(os.environ.get("TAO_FLEET_HOSTVENV_CACHE", Path.home() / ".cache" / "tao_fleet" / "hostvenvs"))
DESCRIPTION_FILE = "tao_fleet_venv.json"
PIP_TIMEOUT_S = 1800
# The pip bundled with 3.6 predates manylinux2014 wheels (onnxruntime 1.10 has only those), and it picks a pip
# that no longer runs on 3.6 when asked for the newest: so pin the last pip for 3.6. Newer Pythons bundle a pip
# that is recent enough.
PIP_UPGRADE = {"3.6": "pip==21.3.1"}


def pyenv_python(minor: str) -> Path:
    """The newest pyenv interpreter of version `minor` ("3.6")."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = []
    for entry in root.glob(minor + ".*") if root.is_dir() else []:
        patch = entry.name[len(minor) + 1:]
        if patch.isdigit() and (entry / "bin" / "python").exists():
            candidates.append((int(patch), entry / "bin" / "python"))
    if not candidates:
        raise FleetError("no Python %s under %s" % (minor, root),
                         fix="install it with `pyenv install %s` (the dev machine has 3.6-3.13)" % minor)
    return max(candidates)[1]


def _double_digest(version: str) -> str:
    """sha256 of what install.py copies for this version: the installer, the package, the version's names."""
    digest = hashlib.sha256()
    package = DOUBLES_DIR / "tao_fleet_trt_double"
    sources = [DOUBLE_INSTALLER, DOUBLES_DIR / "names" / ("tensorrt-%s.txt" % version)]
    sources += sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)
    for path in sources:
        digest.update(str(path.relative_to(DOUBLES_DIR)).encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
    return digest.hexdigest()


def double_args(tensorrt: dict) -> list[str]:
    """install.py arguments for a profile's `tensorrt: {provider: double, ...}`: the simulated device."""
    args = ["--trt-version", tensorrt["version"], "--dla-cores", str(tensorrt.get("dla_cores", 0))]
    if not tensorrt.get("fast_fp16", True):
        args.append("--no-fast-fp16")
    if not tensorrt.get("fast_int8", True):
        args.append("--no-fast-int8")
    return args


def describe(python_minor: str, tensorrt: dict) -> dict:
    """What a venv for this profile would hold; its sha256 is the cache key."""
    python = pyenv_python(python_minor)
    requirements = REQUIREMENTS_DIR / ("host-py%s.txt" % python_minor)
    if not requirements.is_file():
        raise FleetError("no requirements file %s" % requirements,
                         fix="add %s listing what a host with Python %s has" % (requirements.name, python_minor))
    description = {
        "python": str(python),
        "python_version": python.parent.parent.name,
        "requirements": requirements.name,
        "requirements_sha256": hashlib.sha256(requirements.read_bytes()).hexdigest(),
        "trt_double": None,
    }
    if tensorrt["provider"] == "double":
        installable = DOUBLE_INSTALLER.is_file()
        description["trt_double"] = {
            "version": tensorrt["version"],
            "install_args": double_args(tensorrt),
            "installed": installable,
            "source_sha256": _double_digest(tensorrt["version"]) if installable else None,
        }
    return description


def key(description: dict) -> str:
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:16]


def ensure(python_minor: str, tensorrt: dict, log) -> tuple[Path, dict]:
    """The venv for this profile (built now if not cached): (its python, its description)."""
    description = describe(python_minor, tensorrt)
    final = CACHE_DIR / key(description)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / (final.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second `up` building the same venv waits, then reuses it
        if not (final / DESCRIPTION_FILE).is_file():
            log("building host venv %s (Python %s, %s%s); this downloads wheels once" % (
                final.name, description["python_version"], description["requirements"],
                ", TensorRT test double %s" % tensorrt["version"] if description["trt_double"] else ""))
            _build(final, description)
    return final / "bin" / "python", description


def _build(final: Path, description: dict) -> None:
    if final.exists():  # a dir without the description file is a leftover of a build that was cut off
        shutil.rmtree(final)
    staging = Path(tempfile.mkdtemp(prefix=".build-%s-" % final.name, dir=final.parent))
    staging.chmod(0o755)
    build_log = final.parent / (final.name + ".build.log")
    try:
        with open(build_log, "w") as out:
            def step(*cmd: str) -> None:
                out.write("$ %s\n" % " ".join(cmd))
                out.flush()
                proc = subprocess.run(list(cmd), stdout=out, stderr=subprocess.STDOUT, timeout=PIP_TIMEOUT_S,
                                      env=_pip_env(), check=False)
                if proc.returncode != 0:
                    out.flush()
                    tail = "".join(build_log.read_text().splitlines(True)[-25:])
                    raise FleetError("building host venv %s failed at `%s`:\n%s" % (final.name, " ".join(cmd), tail),
                                     fix="fix the cause above (network to PyPI, a requirement without a wheel for"
                                         " Python %s) and run `up` again" % description["python_version"])
            python = str(staging / "bin" / "python")
            step(description["python"], "-m", "venv", str(staging))
            minor = ".".join(description["python_version"].split(".")[:2])
            if minor in PIP_UPGRADE:
                step(python, "-m", "pip", "install", "-q", PIP_UPGRADE[minor])
            step(python, "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS_DIR / description["requirements"]))
            double = description["trt_double"]
            if double and double["installed"]:
                site_packages = subprocess.run(
                    [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    stdout=subprocess.PIPE, text=True, check=True, timeout=60).stdout.strip()
                step(python, str(DOUBLE_INSTALLER), *double["install_args"], "--site-packages", site_packages)
        _relocate(staging, final)
        (staging / DESCRIPTION_FILE).write_text(json.dumps(description, indent=2, sort_keys=True) + "\n")
        os.rename(staging, final)
        build_log.unlink()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _relocate(staging: Path, final: Path) -> None:
    """Point scripts' shebangs and pyvenv.cfg at the final path before the rename makes it real."""
    for path in [*(staging / "bin").iterdir(), staging / "pyvenv.cfg"]:
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if str(staging).encode() in data:
                path.write_bytes(data.replace(str(staging).encode(), str(final).encode()))


def _pip_env() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the controller's path must not leak into the host's interpreter
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def prune(in_use: set[Path]) -> list[Path]:
    """Remove cached venvs not in in_use whose lock is free (none is being built or checked); return them."""
    removed = []
    for venv in sorted(CACHE_DIR.glob("*/%s" % DESCRIPTION_FILE)):
        venv = venv.parent
        if venv in in_use:
            continue
        with open(CACHE_DIR / (venv.name + ".lock"), "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            shutil.rmtree(venv)
            removed.append(venv)
    return removed
