# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""host_prepare_plan on the platform facts of the fixture sysroots (platform_facts' own expected output)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

pytest.importorskip('ansible')

from ansible.errors import AnsibleFilterError  # noqa: E402

from ansible_collections.tao.fleet.plugins.filter.host_prepare import host_prepare_plan  # noqa: E402

SYSROOTS = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'sysroots')


def facts(profile):
    with open(os.path.join(SYSROOTS, profile + '.expected.json')) as handle:
        return json.load(handle)['tao_platform']


def probe(python, have=(), venv=False, system_site_packages=False, pip=True, nvcc=True):
    return {'python': python, 'executable': '/usr/bin/python3', 'prefix': '/usr', 'venv': venv,
            'system_site_packages': system_site_packages, 'pip': pip, 'nvcc': nvcc,
            'modules': dict((name, name in have) for name in ('tensorrt', 'numpy', 'pycuda'))}


def test_jetpack_4_system_python_gets_apt_bindings_and_the_last_pycuda_for_3_6():
    plan = host_prepare_plan(facts('nano-jp46'), probe('3.6'))
    assert plan['apt'] == ['build-essential', 'python3-dev', 'python3-libnvinfer', 'python3-numpy']
    assert plan['pip'] == ['pycuda==2022.1']
    assert plan['pip_env']['PATH'].startswith('/usr/local/cuda/bin:')
    assert plan['pip_env']['CUDA_ROOT'] == '/usr/local/cuda'
    assert plan['problems'] == [] and plan['install'] == ['tensorrt', 'numpy', 'pycuda']


@pytest.mark.parametrize('profile, python', [('xavier-nx-jp51', '3.8'), ('orin-nx-jp62', '3.10'),
                                             ('thor-jp70', '3.12'), ('thor-jp71', '3.12'), ('agx-orin-jp72', '3.12')])
def test_later_jetpacks_get_the_current_pycuda(profile, python):
    plan = host_prepare_plan(facts(profile), probe(python, have=('tensorrt', 'numpy')))
    assert plan['pip'] == ['pycuda'] and plan['apt'] == ['build-essential', 'python3-dev']
    assert plan['present'] == ['tensorrt', 'numpy']


def test_nothing_missing_means_nothing_to_install():
    plan = host_prepare_plan(facts('orin-nx-jp62'), probe('3.10', have=('tensorrt', 'numpy', 'pycuda')))
    assert (plan['install'], plan['apt'], plan['pip'], plan['pip_env']) == ([], [], [], {})


def test_a_venv_on_jetson_that_cannot_see_jetpack_bindings_is_a_problem_with_the_fix():
    plan = host_prepare_plan(facts('orin-nx-jp62'), probe('3.10', venv=True, have=('numpy', 'pycuda')))
    assert plan['apt'] == [] and plan['pip'] == []
    assert len(plan['problems']) == 1 and '--system-site-packages' in plan['problems'][0]


def test_a_venv_with_system_site_packages_gets_the_apt_bindings_and_pip_numpy():
    plan = host_prepare_plan(facts('orin-nx-jp62'),
                             probe('3.10', venv=True, system_site_packages=True, have=('pycuda',)))
    assert plan['apt'] == ['python3-libnvinfer'] and plan['pip'] == ['numpy']


def test_tensorrt_on_jetson_without_apt_is_a_problem():
    plan = host_prepare_plan(facts('nano-jp46'), probe('3.6', have=('numpy', 'pycuda')), use_apt=False)
    assert 'host_prepare_apt is false' in plan['problems'][0]


def test_an_interpreter_other_than_jetpacks_python_is_named():
    plan = host_prepare_plan(facts('nano-jp46'), probe('3.8', have=('numpy', 'pycuda')))
    assert plan['apt'] == ['python3-libnvinfer']
    assert 'JetPack builds its TensorRT bindings for Python 3.6; the modules run on Python 3.8' in plan['notes'][0]


def test_pycuda_without_a_toolkit_is_a_problem_unless_a_wheel_is_offered():
    missing = host_prepare_plan(facts('xavier-nx-jp51'), probe('3.8', have=('tensorrt', 'numpy'), nvcc=False))
    assert missing['pip'] == [] and 'bin/nvcc is missing' in missing['problems'][0]
    assert 'host_prepare_wheels_dir' in missing['problems'][0]
    offline = host_prepare_plan(facts('xavier-nx-jp51'), probe('3.8', have=('tensorrt', 'numpy'), nvcc=False),
                                offline=True)
    assert (offline['pip'], offline['apt'], offline['pip_env'], offline['problems']) == (['pycuda'], [], {}, [])


def test_dgpu_with_apt_tensorrt_gets_the_apt_bindings():
    plan = host_prepare_plan(facts('dgpu-x86'), probe('3.12', have=('numpy', 'pycuda')))
    assert plan['apt'] == ['python3-libnvinfer'] and plan['pip'] == []


def test_dgpu_in_a_venv_gets_the_wheel_for_its_cuda_major():
    plan = host_prepare_plan(facts('dgpu-x86'), probe('3.12', venv=True, have=('pycuda',)))
    assert plan['pip'] == ['tensorrt-cu13', 'numpy'] and plan['apt'] == []


def test_dgpu_with_a_cuda_no_wheel_is_known_for_is_a_problem():
    platform = dict(facts('dgpu-x86'), cuda={'version': '11.8.89'})
    plan = host_prepare_plan(platform, probe('3.10', venv=True, have=('numpy', 'pycuda')))
    assert 'CUDA 11.8.89 has no tensorrt-cuXX wheel' in plan['problems'][0]


def test_python_3_6_in_a_venv_gets_a_numpy_that_still_runs_there():
    plan = host_prepare_plan(facts('nano-jp46'),
                             probe('3.6', venv=True, system_site_packages=True, have=('tensorrt', 'pycuda')))
    assert plan['pip'] == ['numpy<1.20']


def test_pip_missing_is_installed_by_apt_for_the_system_python_and_a_problem_in_a_venv():
    system = host_prepare_plan(facts('orin-nx-jp62'), probe('3.10', have=('tensorrt', 'numpy'), pip=False))
    assert 'python3-pip' in system['apt']
    venv = host_prepare_plan(facts('orin-nx-jp62'), probe('3.10', venv=True, have=('tensorrt', 'numpy'), pip=False))
    assert 'has no pip module' in venv['problems'][0]


def test_only_the_packages_asked_for():
    plan = host_prepare_plan(facts('nano-jp46'), probe('3.6'), packages=['numpy'])
    assert (plan['install'], plan['apt'], plan['pip']) == (['numpy'], ['python3-numpy'], [])


@pytest.mark.parametrize('args, message', [
    ((['numpy', 'torch'],), 'names torch'),
])
def test_unknown_packages_are_refused(args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        host_prepare_plan(facts('nano-jp46'), probe('3.6'), packages=args[0])


def test_wrong_input_types_are_refused():
    with pytest.raises(AnsibleFilterError, match='two mappings'):
        host_prepare_plan('jetson', probe('3.6'))


@pytest.mark.parametrize('python, version, upgrade', [
    ('3.6', '9.0.1', 'pip>=19.3,<22'),      # JetPack 4's python3-pip
    ('3.6', '18.1', 'pip>=19.3,<22'),       # Python 3.6's ensurepip
    ('3.8', '19.2.3', 'pip>=19.3'),
    ('3.8', '19.3', None),
    ('3.10', '23.0.1', None),
    ('3.10', None, None),
])
def test_a_pip_too_old_for_manylinux2014_upgrades_itself_first(python, version, upgrade):
    plan = host_prepare_plan(facts('nano-jp46'), dict(probe(python, have=('tensorrt', 'pycuda'), venv=True,
                                                            system_site_packages=True), pip_version=version))
    assert plan['pip_upgrade'] == upgrade


def test_no_pip_install_no_pip_upgrade():
    plan = host_prepare_plan(facts('nano-jp46'), dict(probe('3.6', have=('tensorrt', 'numpy', 'pycuda')),
                                                      pip_version='9.0.1'))
    assert plan['pip_upgrade'] is None
