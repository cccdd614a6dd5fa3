# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""What role tao.fleet.host_prepare installs on a host so that tao.fleet's modules can build and smoke-test
engines there: the TensorRT Python bindings, numpy and pycuda for the interpreter that runs the modules.

Plain data in (the host's ``tao_platform`` facts and what the interpreter can import), plain data out (apt
packages, pip requirements, the environment pycuda's build needs, and why), so that every rule is unit-tested
here and the role's tasks stay declarative. Documentation for ansible-doc: ``host_prepare_plan.yml``.

Where each rule comes from (``docs/host-prepare.md`` has the table):
- JetPack's TensorRT bindings are the apt package ``python3-libnvinfer`` for the system ``python3`` only
  (``/usr/lib/python3.X/dist-packages/tensorrt``); PyPI has no TensorRT for Jetson. A venv sees them only when
  made with ``--system-site-packages``.
- pycuda is an sdist (no aarch64 wheels): pip compiles it against the CUDA toolkit, whose ``bin`` is not on
  PATH by default (field error 23); its last release for Python 3.6 (JetPack 4) is 2022.1.
- numpy for the system python3 is apt's ``python3-numpy``; numpy 1.19 was the last for Python 3.6.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

PACKAGES = ('tensorrt', 'numpy', 'pycuda')
# Python -> newest release of a package that still runs on it (PyPI metadata: Requires-Python)
PYCUDA_FOR_PYTHON = {'3.6': 'pycuda==2022.1'}
NUMPY_FOR_PYTHON = {'3.6': 'numpy<1.20', '3.7': 'numpy<1.22', '3.8': 'numpy<1.25'}
# manylinux2014 wheels (the only aarch64 ones of numpy and most others) need pip 19.3 (PEP 599); pip 21.3.1 was
# the last for Python 3.6. JetPack 4's python3-pip is pip 9.0.1 (Ubuntu 18.04).
MANYLINUX2014_PIP = (19, 3)
PIP_FOR_PYTHON = {'3.6': 'pip>=19.3,<22'}


class HostPrepareError(AnsibleFilterError):
    """A plan that cannot work on this host; the message names the cause and the fix."""


def _tensorrt(platform, probe, use_apt, problems, notes):
    """(apt, pip) for the TensorRT bindings."""
    if platform.get('kind') == 'jetson':
        if probe.get('venv') and not probe.get('system_site_packages'):
            problems.append('TensorRT: JetPack installs its Python bindings for the system python3 only, and the '
                            'venv %s does not see them. Fix: recreate it with --system-site-packages, or set '
                            'ansible_python_interpreter to /usr/bin/python3.' % probe.get('prefix', '?'))
            return [], []
        if not use_apt:
            problems.append('TensorRT: on Jetson the bindings come from apt (python3-libnvinfer; PyPI has none for '
                            'Jetson) and host_prepare_apt is false. Fix: set host_prepare_apt to true, or install '
                            'python3-libnvinfer by hand.')
            return [], []
        system_python = (platform.get('tensorrt') or {}).get('python')
        if system_python and probe.get('python') != system_python:
            notes.append('JetPack builds its TensorRT bindings for Python %s; the modules run on Python %s, which '
                         'will not see them: set ansible_python_interpreter to /usr/bin/python3.'
                         % (system_python, probe.get('python')))
        return ['python3-libnvinfer'], []
    # dGPU: apt's package matches the libnvinfer that apt installed; otherwise NVIDIA's wheel for the CUDA major
    evidence = (platform.get('tensorrt') or {}).get('evidence') or {}
    if use_apt and not probe.get('venv') and any(key.startswith('dpkg libnvinfer') for key in evidence):
        return ['python3-libnvinfer'], []
    cuda = str((platform.get('cuda') or {}).get('version') or '')
    major = cuda.split('.', maxsplit=1)[0]
    if major not in ('12', '13'):
        problems.append('TensorRT: no apt TensorRT on this dGPU host and CUDA %s has no tensorrt-cuXX wheel that '
                        'tao.fleet knows. Fix: install TensorRT for this CUDA (apt python3-libnvinfer from '
                        "NVIDIA's CUDA repository), or a tensorrt wheel into host_prepare_wheels_dir."
                        % (cuda or 'unknown'))
        return [], []
    return [], ['tensorrt-cu%s' % major]


def _numpy(platform, probe, use_apt):
    if use_apt and platform.get('kind') == 'jetson' and not probe.get('venv'):
        return ['python3-numpy'], []
    return [], [NUMPY_FOR_PYTHON.get(probe.get('python'), 'numpy')]


def _pycuda(probe, cuda_home, offline, use_apt, problems):
    """(apt, pip, env) for pycuda: built from its sdist against the CUDA toolkit, unless a wheel is offered."""
    requirement = PYCUDA_FOR_PYTHON.get(probe.get('python'), 'pycuda')
    if offline:
        # a wheel that `pip wheel pycuda` built on one host of this platform class serves the others: no toolkit
        return [], [requirement], {}
    if not probe.get('nvcc'):
        problems.append('pycuda: pip builds it from source against the CUDA toolkit, and %s/bin/nvcc is missing. '
                        'Fix: install the CUDA toolkit (part of nvidia-jetpack on Jetson), set host_prepare_cuda_home '
                        'to where it is, or put a pycuda wheel built on a host of this platform class (pip wheel '
                        '"%s") into host_prepare_wheels_dir.' % (cuda_home, requirement))
        return [], [], {}
    env = {'CUDA_ROOT': cuda_home, 'PATH': '%s/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
           % cuda_home}
    # the compiler and the headers of the system python3; a venv's python brings its own headers
    build_deps = ['python3-dev', 'build-essential'] if use_apt and not probe.get('venv') else []
    return build_deps, [requirement], env


def _old_pip(version):
    numbers = []
    for part in str(version or '').split('.')[:2]:
        digits = ''.join(ch for ch in part if ch.isdigit())
        numbers.append(int(digits) if digits else 0)
    return bool(version) and tuple(numbers) < MANYLINUX2014_PIP


def host_prepare_plan(platform, probe, packages=PACKAGES, use_apt=True, offline=False,
                      cuda_home='/usr/local/cuda'):
    """The plan for one host: ``{install: [...], present: [...], apt: [...], pip_upgrade: None or a pip
    requirement, pip: [...], pip_env: {...}, notes: [...], problems: [...]}``. ``probe`` is what the role's probe
    task printed: ``{python, venv, system_site_packages, prefix, pip, pip_version, nvcc, modules: {name: bool}}``."""
    if not isinstance(platform, dict) or not isinstance(probe, dict):
        raise HostPrepareError('host_prepare_plan takes the host\'s tao_platform facts and the probe result (two '
                               'mappings), got %s and %s.' % (type(platform).__name__, type(probe).__name__))
    unknown = sorted(set(packages) - set(PACKAGES))
    if unknown:
        raise HostPrepareError('host_prepare_packages names %s; tao.fleet prepares only %s.'
                               % (', '.join(unknown), ', '.join(PACKAGES)))
    modules = probe.get('modules') or {}
    present = [name for name in packages if modules.get(name)]
    wanted = [name for name in packages if not modules.get(name)]
    apt, pip, env, notes, problems = [], [], {}, [], []
    for name in wanted:
        if name == 'tensorrt':
            more_apt, more_pip = _tensorrt(platform, probe, use_apt, problems, notes)
        elif name == 'numpy':
            more_apt, more_pip = _numpy(platform, probe, use_apt)
        else:
            more_apt, more_pip, env = _pycuda(probe, cuda_home, offline, use_apt, problems)
        apt.extend(more_apt)
        pip.extend(more_pip)
    if pip and not probe.get('pip'):
        if use_apt and not probe.get('venv'):
            apt.append('python3-pip')
        else:
            problems.append('pip: %s has no pip module, and pip installs %s. Fix: install pip for it (apt '
                            'python3-pip, or python -m ensurepip in a venv).'
                            % (probe.get('executable', '?'), ', '.join(pip)))
    upgrade = PIP_FOR_PYTHON.get(probe.get('python'), 'pip>=19.3') if pip and _old_pip(probe.get('pip_version')) \
        else None
    return {'install': wanted, 'present': present, 'apt': sorted(set(apt)), 'pip_upgrade': upgrade, 'pip': pip,
            'pip_env': env, 'notes': notes, 'problems': problems}


class FilterModule(object):
    def filters(self):
        return {'host_prepare_plan': host_prepare_plan}
