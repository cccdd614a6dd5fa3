"""Plain-pytest suites, each under its own Python and requirements: tests that neither ansible-test nor the
controller venv can host (oracles against NVIDIA's own encoder and post-processing, NVIDIA's polygraphy and
tao-deploy on the TensorRT test double, TensorRT-RTX wheels that
exist for 3.10+ only, the TensorRT name check against the real wheels, the report page in Chromium).
"""

import collections

from ..context import PartError
from ..outcomes import PartResult, Status
from ..pytest_run import has_tests, run_pytest

DESCRIPTION = 'plain-pytest suites (table SUITES in tests/runner/parts/suites.py)'

# Seconds one suite under one Python may run (the slowest takes under a minute): a hang fails it, not CI.
TIME_LIMIT = 900

Suite = collections.namedtuple('Suite', 'name python requirements path')
NEEDS_PYTHONS = {'api_names': ('3.11', '3.12')}

# One row per (suite, Python): requirements files in install order (tests/setup installs *-nodeps.txt with
# pip --no-deps); pytest for that Python comes from tests/requirements/pytest.txt.
ORACLE = ('tests/requirements/oracle.txt', 'tests/requirements/oracle-nodeps.txt')
SUITES = (
    Suite('oracle', '3.6', ORACLE, 'tests/oracle'),
    Suite('oracle', '3.10', ORACLE, 'tests/oracle'),
    Suite('oracle', '3.12', ORACLE, 'tests/oracle'),
    Suite('rtx', '3.12', ('tests/requirements/rtx.txt',), 'tests/rtx'),
    Suite('detectnet_oracle', '3.6', ('tests/detectnet_oracle/requirements.txt',), 'tests/detectnet_oracle'),
    Suite('detectnet_oracle', '3.10', ('tests/detectnet_oracle/requirements.txt',), 'tests/detectnet_oracle'),
    Suite('detectnet_oracle', '3.12', ('tests/detectnet_oracle/requirements.txt',), 'tests/detectnet_oracle'),
    # NVIDIA's polygraphy and tao-deploy on the TensorRT test double, against the layer on the same double.
    Suite('conformance', '3.12', ('tests/conformance/requirements.txt',), 'tests/conformance'),
    # The TensorRT names of the layer and the double against the real bindings wheels (stdlib + pytest).
    Suite('api_names', '3.11', (), 'tests/api_names'),
    # The CPU half of the GPU-machine check: the stand-in kernel's source and pycuda_smoke.py's flow.
    Suite('gpu', '3.11', ('tests/requirements/controller.txt',), 'tests/gpu'),
    Suite('report', '3.11', ('tests/report/requirements.txt',), 'tests/report'),
)


def run(session):
    context = session.context
    result = PartResult()
    for suite in SUITES:
        label = '%s[%s]' % (suite.name, suite.python)
        if not has_tests(context.repo / suite.path):
            result.notes.append('%s: no tests yet in %s' % (label, suite.path))
            continue
        missing = [path for path in suite.requirements if not (context.repo / path).is_file()]
        if missing:
            result.add(label, Status.FAILED, '%s has tests but %s does not exist; fix: write it' % (
                suite.path, ', '.join(missing)))
            continue
        try:
            venv = session.venv(suite.python, 'tests/requirements/pytest.txt', *suite.requirements)
            extra = {'TAO_FLEET_PYTHON%s' % version.replace('.', ''): str(session.python(version))
                     for version in NEEDS_PYTHONS.get(suite.name, ())}
        except PartError as error:
            result.add(label, Status.FAILED, str(error))
            continue
        # Suites import module code as ansible_collections.tao.fleet, through the collections link.
        env = context.environment(venv, PYTHONPATH=context.collections, **extra)
        run_pytest(session, result, label, venv / 'bin' / 'python', suite.path, env, timeout=TIME_LIMIT)
    return result
