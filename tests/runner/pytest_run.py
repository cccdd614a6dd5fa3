"""Run pytest for a part and turn its JUnit file and exit status into outcomes.

pytest exits 5 when it collected nothing. For a directory that has test files that is a failure, never a
pass (a broken conftest or a typo in a name hides every test); it is only expected when -k deselects all.
"""

from .outcomes import Status, read_junit

EXIT_MEANINGS = {2: 'interrupted', 3: 'internal error', 4: 'usage error', 5: 'no tests collected'}
# A test still running after this many seconds gets every thread's traceback written to the log (it is not
# stopped: the part's own time limit does that), so that a hang shows where it hangs.
TRACEBACK_AFTER = 300


def has_tests(directory):
    return directory.is_dir() and any(directory.rglob('test_*.py'))


def run_pytest(session, result, name, python, path, env, timeout):
    """Run python -m pytest path; add its outcomes (names prefixed with name) to result."""
    context = session.context
    junit = context.logs / ('%s.xml' % name.replace('[', '-').replace(']', '').replace(' ', '-'))
    if junit.exists():
        junit.unlink()
    command = [python, '-m', 'pytest', '-p', 'no:cacheprovider', '-rfEs', '-o', 'faulthandler_timeout=%d' % TRACEBACK_AFTER,
               '--junitxml', junit, path]
    if context.pytest_selection:
        command += ['-k', context.pytest_selection]
    outcome = session.run(command, env=env, timeout=timeout)
    outcomes = read_junit(junit, '%s ' % name) if junit.exists() else []
    result.outcomes.extend(outcomes)
    failed = any(item.status is Status.FAILED for item in outcomes)
    if outcome.returncode == 5 and context.pytest_selection:
        result.notes.append('%s: no test matches -k %r' % (name, context.pytest_selection))
        return
    if outcome.timed_out:
        problem = 'killed after %d s' % timeout
    elif (outcome.returncode == 0 and outcomes) or (outcome.returncode == 1 and failed):
        return
    elif outcome.returncode == 0:
        problem = 'pytest exited 0 but ran no test'
    elif outcome.returncode < 0:
        problem = 'pytest was killed by signal %d' % -outcome.returncode
    else:
        problem = 'pytest exited %d (%s)' % (outcome.returncode, EXIT_MEANINGS.get(outcome.returncode, 'unexpected'))
    result.add('%s pytest' % name, Status.FAILED, problem + ': see the log')
