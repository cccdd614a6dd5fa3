"""Integration tests: real ansible-playbook runs against the simulated fleet (sshd in network namespaces)."""

import os

from ..outcomes import PartResult, Status
from ..pytest_run import has_tests, run_pytest

DESCRIPTION = 'pytest tests/integration with the controller venv (needs root: network namespaces)'
PATH = 'tests/integration'
# Seconds the whole integration run may take (it takes minutes): a hang fails it, not the whole CI job.
TIME_LIMIT = 2400


def run(session):
    context = session.context
    result = PartResult()
    if not has_tests(context.repo / PATH):
        result.notes.append('no tests yet in %s' % PATH)
        return result
    if os.geteuid() != 0:
        result.add('integration', Status.FAILED,
                   'the simulated fleet needs root (network namespaces); fix: run tests/run as root')
        return result
    env = context.environment(context.controller, ANSIBLE_COLLECTIONS_PATH=context.collections)
    run_pytest(session, result, 'integration', context.controller / 'bin' / 'python', PATH, env, timeout=TIME_LIMIT)
    return result
