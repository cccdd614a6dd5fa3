"""vermin: module code must run on Python 3.6 (JetPack 4 hosts), whatever Python the tests run under."""

from ..outcomes import PartResult, Status

DESCRIPTION = 'vermin -t=3.6- --violations over plugins/modules and plugins/module_utils'
TARGETS = ('plugins/modules', 'plugins/module_utils')


def run(session):
    context = session.context
    result = PartResult()
    targets = [target for target in TARGETS if any((context.repo / target).rglob('*.py'))]
    if not targets:
        result.notes.append('no module code yet in %s: nothing to check' % ' or '.join(TARGETS))
        return result
    venv = session.venv('3.11', 'tests/requirements/lint.txt')
    # --eval-annotations: annotations are evaluated on 3.6 (no "from __future__ import annotations" there).
    command = [venv / 'bin' / 'vermin', '-t=3.6-', '--violations', '--no-tips', '--eval-annotations'] + targets
    outcome = session.run(command, env=context.environment(venv))
    name = 'vermin -t=3.6- %s' % ' '.join(targets)
    if outcome.returncode == 0:
        result.add(name, Status.PASSED)
    else:
        result.add(name, Status.FAILED, 'needs a Python newer than 3.6 (exit %d):\n%s' % (
            outcome.returncode, outcome.output.strip()[-2000:]))
    return result
