"""ansible-test units --venv on ansible-core 2.16.19, for each Python that module code must run on.

Python 2.7 is not possible (ansible-test has no venv support for it) and not needed: module code requires
Python 3.6+ (tests/config.yml). Requirements: tests/unit/requirements.txt, with markers per Python.
"""

import shutil

from ..outcomes import PartResult, Status, read_junit_files
from ..tree import collection_copy

DESCRIPTION = 'ansible-test units --venv on ansible-core 2.16.19 for Python 3.6, 3.8, 3.10 and 3.12'
# Seconds one Python's unit run may take (a cold one takes minutes): a hang fails it, not the whole CI job.
TIME_LIMIT = 1200
PYTHONS = ('3.6', '3.8', '3.10', '3.12')


def run(session):
    context = session.context
    result = PartResult()
    copy = collection_copy(context.repo)
    if not any((copy / 'tests' / 'unit').rglob('test_*.py')):
        result.notes.append('no unit tests yet in tests/unit')
        return result
    junit = copy / 'tests' / 'output' / 'junit'
    for python in PYTHONS:
        shutil.rmtree(str(junit), ignore_errors=True)
        command = [context.controller / 'bin' / 'ansible-test', 'units', '--venv', '--python', python,
                   '--color', 'no']
        outcome = session.run(command, cwd=copy, env=context.environment(context.controller), timeout=TIME_LIMIT)
        outcomes = read_junit_files(junit, 'units[%s] ' % python, 'python%s-*units.xml' % python)
        result.outcomes.extend(outcomes)
        failed = any(item.status is Status.FAILED for item in outcomes)
        if outcome.returncode != 0 and not failed:
            result.add('units[%s] ansible-test' % python, Status.FAILED,
                       'ansible-test exited %d%s without naming a failed test: see the log' % (
                           outcome.returncode, ' (timed out)' if outcome.timed_out else ''))
        elif not outcomes:
            # Test files exist, yet pytest collected nothing: never a success.
            result.add('units[%s] ansible-test' % python, Status.FAILED,
                       'tests/unit has test files but no test ran: see the log')
    return result
