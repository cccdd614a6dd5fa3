"""ansible-lint, production profile (settings in .ansible-lint), on the roles and playbooks."""

from ..outcomes import PartResult, Status

DESCRIPTION = 'ansible-lint --profile production on roles/ and playbooks/ (settings: .ansible-lint)'
TARGETS = ('roles', 'playbooks')


def run(session):
    context = session.context
    result = PartResult()
    targets = [target for target in TARGETS
               if any(path.suffix in ('.yml', '.yaml') for path in (context.repo / target).rglob('*'))]
    if not targets:
        result.notes.append('no roles or playbooks yet: nothing to lint')
        return result
    venv = session.venv('3.11', 'tests/requirements/lint.txt')
    command = [venv / 'bin' / 'ansible-lint', '--nocolor', '--profile', 'production'] + targets
    # Playbooks call tao.fleet.* modules: ansible-lint resolves them through the collections link.
    env = context.environment(venv, ANSIBLE_COLLECTIONS_PATH=context.collections, NO_COLOR=1)
    outcome = session.run(command, env=env)
    name = 'ansible-lint --profile production %s' % ' '.join(targets)
    if outcome.returncode == 0:
        result.add(name, Status.PASSED)
    else:
        result.add(name, Status.FAILED, 'exit %d; the violations are in the log' % outcome.returncode)
    return result
