"""ansible-test sanity, without containers, on the oldest ansible-core the collection supports and the newest two.

2.16 is the newest core that manages JetPack 4 hosts (Python 3.6), so it is the controller core; 2.21 and 2.22
(the newest on PyPI), both on Python 3.13, show what the next cores will reject. Each runs every sanity test it has
(but those in LEFT_OUT), compile and import on every Python it supports that this machine has
(tests/output/pythons). Results are read from ansible-test's JUnit files: one test per sanity test, and per
Python for compile/import. A test with nothing to check counts as skipped, as do compile and import on
Pythons this machine does not have (3.14 for 2.21 and 2.22, 3.15 for 2.22).
"""

import shutil

from ..outcomes import PartResult, Status, read_junit_files
from ..tree import collection_copy

DESCRIPTION = 'ansible-test sanity --venv on ansible-core 2.16.19 (Python 3.11), 2.21 and 2.22 (Python 3.13)'
# Seconds one core's sanity run may take (a cold one takes minutes): a hang fails it, not the whole CI job.
TIME_LIMIT = 1800

# Sanity tests left out per core, each with the reason (given to ansible-test as --skip-test).
LEFT_OUT = {
    '2.22': {
        'pylint': 'ansible-test 2.22 pins its pylint requirement dill to a GitHub archive '
                  '(requirements/sanity.pylint.txt), and this machine reaches only the package indexes; '
                  'pylint runs on 2.16 and 2.21',
    },
}


def cores(session):
    return (
        ('2.16', session.context.controller),
        ('2.21', session.venv('3.13', 'tests/requirements/core-2.21.txt')),
        ('2.22', session.venv('3.13', 'tests/requirements/core-2.22.txt')),
    )


def run(session):
    context = session.context
    result = PartResult()
    copy = collection_copy(context.repo)
    junit = copy / 'tests' / 'output' / 'junit'
    for core, venv in cores(session):
        shutil.rmtree(str(junit), ignore_errors=True)
        command = [venv / 'bin' / 'ansible-test', 'sanity', '--venv', '--junit', '--color', 'no']
        for test in sorted(LEFT_OUT.get(core, {})):
            command += ['--skip-test', test]
        outcome = session.run(command, cwd=copy, env=context.environment(venv), timeout=TIME_LIMIT)
        outcomes = read_junit_files(junit, 'sanity[%s] ' % core, 'ansible-test-sanity-*.xml', with_classname=False)
        result.outcomes.extend(outcomes)
        if outcome.returncode != 0 and not any(item.status is Status.FAILED for item in outcomes):
            result.add('sanity[%s] ansible-test' % core, Status.FAILED,
                       'ansible-test exited %d%s without naming a failed test: see the log' % (
                           outcome.returncode, ' (timed out)' if outcome.timed_out else ''))
        elif not outcomes:
            result.add('sanity[%s] ansible-test' % core, Status.FAILED, 'ansible-test wrote no results')
    for core, tests in sorted(LEFT_OUT.items()):
        for test, reason in sorted(tests.items()):
            result.notes.append('left out on %s: %s (%s)' % (core, test, reason))
    return result
