"""ansible-test sanity, without containers, on the oldest and the newest ansible-core the collection supports.

2.16 is the newest core that manages JetPack 4 hosts (Python 3.6), so it is the controller core; the newest
core that installs here (2.21, on Python 3.13) shows what the next cores will reject. Each runs every sanity
test it has, compile and import on every Python it supports that this machine has (tests/output/pythons).
Results are read from ansible-test's JUnit files: one test per sanity test, and per Python for compile/import.
A test with nothing to check counts as skipped, as do 2.21's compile and import on Python 3.14, which this
machine does not have.
"""

import shutil

from ..outcomes import PartResult, Status, read_junit_files
from ..tree import collection_copy

DESCRIPTION = 'ansible-test sanity --venv on ansible-core 2.16.19 (Python 3.11) and 2.21 (Python 3.13)'
# Seconds one core's sanity run may take (a cold one takes minutes): a hang fails it, not the whole CI job.
TIME_LIMIT = 1800

# Sanity tests left out, each with the reason (given to ansible-test as --skip-test). None so far: every
# test of both cores runs.
LEFT_OUT = {}


def cores(session):
    return (
        ('2.16', session.context.controller),
        ('2.21', session.venv('3.13', 'tests/requirements/core-2.21.txt')),
    )


def run(session):
    context = session.context
    result = PartResult()
    copy = collection_copy(context.repo)
    junit = copy / 'tests' / 'output' / 'junit'
    for core, venv in cores(session):
        shutil.rmtree(str(junit), ignore_errors=True)
        command = [venv / 'bin' / 'ansible-test', 'sanity', '--venv', '--junit', '--color', 'no']
        for test in sorted(LEFT_OUT):
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
    for test, reason in sorted(LEFT_OUT.items()):
        result.notes.append('left out: %s (%s)' % (test, reason))
    return result
