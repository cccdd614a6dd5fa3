"""What Galaxy, Automation Hub and an execution-environment build do with the collection, with their own tools.

- galaxy-importer on the tarball that ansible-galaxy builds from what git would commit (settings:
  tests/galaxy-importer.cfg; ansible-test off, ansible-lint and ansible-doc on). Every error or warning it
  logs is one failed test, with two exceptions, each checked rather than trusted:
  * "Ignore files skip ansible-test sanity tests" is logged for every ignore file, whatever it holds. It
    passes when every entry of that file is one ansible-lint's sanity rule permits (its own list, read from
    the installed ansible-lint), which is the review Automation Hub applies to ignore files.
  * entries of WAITING below: a known finding whose fix is in files this part's owner does not edit. Each
    counts as skipped (never passed) with its reason; an entry that no longer matches fails, so it goes.
- ansible-builder introspect on the installed tarball (it must list meta/ee-bindep.txt's packages), create on
  execution-environment/, and the generated context's own introspect.py, which the image build runs.
- antsibull-changelog lint, and CHANGELOG.rst and changelog.yaml as antsibull-changelog generates them now.
- version_added of every plugin and role against changelogs/changelog.yaml (tests/runner/version_added.py).
- antsibull-docs lint-collection-docs --plugin-docs.
- an AWX project sync: in a copy of the repository as a project checkout, what AWX runs (ansible-galaxy
  collection install -r collections/requirements.yml, in the project root), then the job's lookups with only
  that path: every playbook by its FQCN (--syntax-check) and every role's documentation.
"""

import json
import re
import shutil
import pathlib
import tarfile

from ..outcomes import PartResult, Status
from ..tree import collection_copy

DESCRIPTION = ('galaxy-importer on the built tarball; ansible-builder introspect and create; antsibull-changelog '
               'and antsibull-docs lint; version_added; an AWX project sync')
REQUIREMENTS = 'tests/requirements/publish.txt'
IMPORTER_CONFIG = 'tests/galaxy-importer.cfg'
# Seconds one tool may run (galaxy-importer, the slowest, takes about 30 s here): a hang fails it, not CI.
TIME_LIMIT = 600

# Findings that wait on a change outside this part's files, keyed by ignore file and entry.
_BAD_FUNCTION = {
    'plugins/module_utils/_etlt.py': (
        'subprocess.Popen in module_utils (openssl enc fallback); the sanctioned replacement is '
        'AnsibleModule.run_command, passed in by the module (module_utils never import ansible): a change '
        'to plugins/module_utils/_etlt.py, which another engineer owns'),
    'plugins/module_utils/_platform_files.py': (
        'subprocess.Popen in module_utils (bounded probe runner: time limit, output cap, whole process group '
        'killed); AnsibleModule.run_command has no time limit or output cap, so the replacement needs a '
        'design decision in plugins/module_utils/_platform_files.py, which another engineer owns'),
}
WAITING = {'%s: %s pylint:ansible-bad-function' % (ignore_file, path): reason
           for ignore_file in ('ignore-2.21.txt', 'ignore-2.22.txt') for path, reason in _BAD_FUNCTION.items()}

IGNORE_PRESENT = re.compile(r'Ignore files skip ansible-test sanity tests, found (?P<file>ignore-[^ ]+\.txt) with')
CANNOT_IGNORE = re.compile(
    r'tests/sanity/(?P<file>ignore-[^ :]+\.txt):(?P<line>\d+): sanity\[cannot-ignore\]')
LOGGED = re.compile(r'^(?P<level>WARNING|ERROR|CRITICAL): (?P<message>.*)$')
NAMESPACE_NAME = 'tao-fleet'


def run(session):
    context = session.context
    result = PartResult()
    copy = collection_copy(context.repo)
    venv = session.venv('3.11', REQUIREMENTS)
    work = context.output / 'publish'
    shutil.rmtree(str(work), ignore_errors=True)
    work.mkdir(parents=True)
    tarball = _build(session, result, venv, copy, work)
    if tarball is not None:
        _importer(session, result, venv, tarball, work)
        _builder(session, result, venv, copy, tarball, work)
    _changelog(session, result, venv, copy, work)
    _docs_lint(session, result, venv, copy)
    _awx_project(session, result, venv, copy, work)
    return result


def _without_test_output(copy):
    """shutil.copytree ignore function that leaves out the copy's tests/output (ansible-test's state)."""
    def ignore(directory, names):
        return ['output'] if pathlib.Path(directory) == copy / 'tests' and 'output' in names else []
    return ignore


def _env(session, venv, **extra):
    return session.context.environment(venv, NO_COLOR=1, **extra)


def _failed(outcome, limit=1500):
    return 'exit %d%s: %s' % (outcome.returncode, ' (timed out)' if outcome.timed_out else '',
                              outcome.output.strip()[-limit:])


def _build(session, result, venv, copy, work):
    output = work / 'build'
    output.mkdir()
    outcome = session.run([venv / 'bin' / 'ansible-galaxy', 'collection', 'build', '--output-path', output, copy],
                          env=_env(session, venv), timeout=TIME_LIMIT)
    built = sorted(output.glob('%s-*.tar.gz' % NAMESPACE_NAME))
    if outcome.returncode != 0 or len(built) != 1:
        result.add('ansible-galaxy collection build (publish)', Status.FAILED, _failed(outcome))
        return None
    return built[0]


# galaxy-importer

def _importer(session, result, venv, tarball, work):
    context = session.context
    cwd = work / 'importer'   # galaxy-importer writes importer_result.json into its working directory
    cwd.mkdir()
    env = _env(session, venv, GALAXY_IMPORTER_CONFIG=context.repo / IMPORTER_CONFIG)
    outcome = session.run([venv / 'bin' / 'python', '-m', 'galaxy_importer.main', tarball], cwd=cwd, env=env,
                          timeout=TIME_LIMIT)
    test = 'galaxy-importer %s' % tarball.name
    if outcome.returncode != 0 or outcome.timed_out:
        result.add(test, Status.FAILED, _failed(outcome, 3000))
    else:
        result.add(test + ': imported (exit 0)', Status.PASSED)
    if 'ansible-lint run complete' not in outcome.output:
        result.add(test + ': ansible-lint ran', Status.FAILED,
                   'galaxy-importer did not say that ansible-lint ran, so its findings are unknown: see the log')
    ignore_files = _ignore_files(tarball)
    allowed = _allowed_ignores(session, venv)
    seen = set()
    messages = [match.groupdict() for match in map(LOGGED.match, outcome.output.splitlines()) if match]
    for logged in messages:
        message = logged['message'].strip()
        name = '%s: %s %s' % (test, logged['level'].lower(), message[:160])
        present = IGNORE_PRESENT.search(message)
        cannot = CANNOT_IGNORE.search(message)
        if present and logged['level'] == 'WARNING':
            _judge_ignore_file(result, test, present.group('file'), ignore_files, allowed)
        elif cannot and logged['level'] == 'WARNING':
            entry = _ignore_entry(ignore_files, cannot.group('file'), int(cannot.group('line')))
            key = '%s: %s' % (cannot.group('file'), entry)
            if key in WAITING:
                seen.add(key)
                result.add('%s: not permitted: %s' % (test, key), Status.SKIPPED, WAITING[key])
            else:
                result.add('%s: not permitted: %s' % (test, key), Status.FAILED, message)
        else:
            result.add(name, Status.FAILED, message)
    for key in sorted(set(WAITING) - seen):
        result.add('%s: WAITING entry %s' % (test, key), Status.FAILED,
                   'galaxy-importer no longer reports it; fix: remove it from WAITING in tests/runner/parts/publish.py')
    for key in sorted(seen):
        result.notes.append('waiting: %s (%s)' % (key, WAITING[key]))


def _ignore_files(tarball):
    """{file name: [entry lines]} of tests/sanity/ignore-*.txt in the tarball (what Galaxy sees)."""
    files = {}
    with tarfile.open(str(tarball)) as archive:
        for member in archive.getmembers():
            path = pathlib.PurePosixPath(member.name)
            if member.isfile() and path.parent.as_posix() == 'tests/sanity' and \
                    path.name.startswith('ignore-') and path.name.endswith('.txt'):
                files[path.name] = archive.extractfile(member).read().decode('utf-8', 'replace').splitlines()
    return files


def _ignore_entry(ignore_files, name, line):
    """'path test' of line number line (1-based) of ignore file name, without its comment."""
    lines = ignore_files.get(name, [])
    if not 0 < line <= len(lines):
        return '<line %d of %s>' % (line, name)
    return ' '.join(lines[line - 1].split('#', 1)[0].split())


def _allowed_ignores(session, venv):
    code = ('import json; from ansiblelint.rules.sanity import CheckSanityIgnoreFiles as R; '
            'print(json.dumps(R.allowed_ignores))')
    outcome = session.run([venv / 'bin' / 'python', '-c', code], env=_env(session, venv))
    try:
        return set(json.loads(outcome.output.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        return set()


def _judge_ignore_file(result, test, name, ignore_files, allowed):
    entries = [' '.join(line.split('#', 1)[0].split()) for line in ignore_files.get(name, [])]
    entries = [entry for entry in entries if entry]
    not_permitted = ['%s: %s' % (name, entry) for entry in entries
                     if len(entry.split()) < 2 or entry.split()[1] not in allowed]
    test_name = '%s: %s holds only ignores ansible-lint permits' % (test, name)
    if not allowed:
        result.add(test_name, Status.FAILED, 'could not read the permitted ignores from ansible-lint: see the log')
    elif not not_permitted:
        result.add(test_name, Status.PASSED)
    elif all(key in WAITING for key in not_permitted):
        result.add(test_name, Status.SKIPPED, 'only the WAITING entries are not permitted: %s' % (
            '; '.join(not_permitted)))
    else:
        result.add(test_name, Status.FAILED, 'not permitted: %s' % '; '.join(
            key for key in not_permitted if key not in WAITING))


# ansible-builder

def _builder(session, result, venv, copy, tarball, work):
    env = _env(session, venv)
    collections = work / 'collections'
    outcome = session.run([venv / 'bin' / 'ansible-galaxy', 'collection', 'install', '--offline', '-p', collections,
                           tarball], env=env, timeout=TIME_LIMIT)
    if outcome.returncode != 0:
        result.add('ansible-builder: install %s' % tarball.name, Status.FAILED, _failed(outcome))
        return
    wanted = _bindep_lines(copy / 'meta' / 'ee-bindep.txt')

    outcome = session.run([venv / 'bin' / 'ansible-builder', 'introspect', '--sanitize', collections], env=env,
                          timeout=TIME_LIMIT)
    _expect_bindep(result, 'ansible-builder introspect --sanitize (installed %s)' % tarball.name, outcome,
                   outcome.output, wanted)

    definition = work / 'execution-environment'
    shutil.copytree(str(copy / 'execution-environment'), str(definition))
    shutil.copy2(str(tarball), str(definition / 'tao-fleet.tar.gz'))
    build_context = work / 'context'
    outcome = session.run([venv / 'bin' / 'ansible-builder', 'create', '-f', definition / 'execution-environment.yml',
                           '-c', build_context, '--output-filename', 'Containerfile'], env=env, timeout=TIME_LIMIT)
    test = 'ansible-builder create -f execution-environment/execution-environment.yml'
    containerfile = build_context / 'Containerfile'
    text = containerfile.read_text() if containerfile.is_file() else ''
    problems = [what for what, ok in (
        ('exit status %d' % outcome.returncode, outcome.returncode == 0),
        ('no Containerfile', bool(text)),
        ('no FROM of the base image', 'FROM $EE_BASE_IMAGE' in text),
        ('no introspect step in the builder stage', 'introspect.py introspect' in text),
        ('the collection tarball is not in the context',
         (build_context / '_build' / 'tao-fleet' / 'tao-fleet.tar.gz').is_file()),
    ) if not ok]
    if problems:
        result.add(test, Status.FAILED, '%s; output: %s' % (', '.join(problems), outcome.output.strip()[-1500:]))
        return
    result.add(test, Status.PASSED)

    # What the image build's builder stage runs: the context's own introspect.py over the installed collections.
    script = build_context / '_build' / 'scripts' / 'introspect.py'
    bindep = work / 'bindep.txt'
    outcome = session.run([venv / 'bin' / 'python', script, 'introspect', '--write-bindep', bindep,
                           '--write-pip', work / 'requirements.txt', collections], env=env, timeout=TIME_LIMIT)
    written = bindep.read_text() if bindep.is_file() else ''
    _expect_bindep(result, 'context _build/scripts/introspect.py introspect --write-bindep', outcome, written, wanted)


def _bindep_lines(path):
    return [line.split('#', 1)[0].strip() for line in path.read_text().splitlines()
            if line.split('#', 1)[0].strip()] if path.is_file() else []


def _expect_bindep(result, test, outcome, text, wanted):
    missing = [line for line in wanted if '%s  # from collection tao.fleet' % line not in text]
    if outcome.returncode != 0 or not wanted or missing:
        result.add(test, Status.FAILED, '%s; missing from its bindep list: %s' % (
            _failed(outcome), ', '.join(missing) or ('meta/ee-bindep.txt lists nothing' if not wanted else '-')))
    else:
        result.add(test, Status.PASSED)


# antsibull-changelog, version_added

def _changelog(session, result, venv, copy, work):
    env = _env(session, venv, ANSIBLE_COLLECTIONS_PATH=copy.parents[2])
    changelog = venv / 'bin' / 'antsibull-changelog'
    for command, test in (
            ([changelog, 'lint'], 'antsibull-changelog lint'),
            ([changelog, 'lint-changelog-yaml', 'changelogs/changelog.yaml'],
             'antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml')):
        outcome = session.run(command, cwd=copy, env=env, timeout=TIME_LIMIT)
        # Both print one line per problem, and nothing when clean.
        if outcome.returncode == 0 and not outcome.output.strip():
            result.add(test, Status.PASSED)
        else:
            result.add(test, Status.FAILED, _failed(outcome))

    # generate in a scratch copy, with the plugins read again (ansible-doc): CHANGELOG.rst and changelog.yaml
    # must be what it writes. The plugin cache it refreshes feeds the version_added check below; the committed
    # cache is not compared, since a release rewrites it and a description edit in between changes no release.
    scratch = work / 'changelog' / 'ansible_collections' / 'tao' / 'fleet'
    shutil.copytree(str(copy), str(scratch), ignore=_without_test_output(copy))
    outcome = session.run([changelog, 'generate', '--reload-plugins'], cwd=scratch,
                          env=_env(session, venv, ANSIBLE_COLLECTIONS_PATH=scratch.parents[2]), timeout=TIME_LIMIT)
    for relative in ('CHANGELOG.rst', 'changelogs/changelog.yaml'):
        test = '%s is what antsibull-changelog generate writes' % relative
        fresh, committed = scratch / relative, copy / relative
        if outcome.returncode != 0:
            result.add(test, Status.FAILED, _failed(outcome))
        elif not committed.is_file():
            result.add(test, Status.FAILED, '%s is missing; fix: antsibull-changelog release (or generate)' % relative)
        elif fresh.read_bytes() != committed.read_bytes():
            result.add(test, Status.FAILED, '%s differs from a fresh generate; fix: run antsibull-changelog generate '
                       'in the collection and commit it' % relative)
        else:
            result.add(test, Status.PASSED)

    checker = session.context.repo / 'tests' / 'runner' / 'version_added.py'
    outcome = session.run([venv / 'bin' / 'python', checker, scratch / 'changelogs' / '.plugin-cache.yaml',
                           copy / 'changelogs' / 'changelog.yaml'], env=env, timeout=TIME_LIMIT)
    lines = outcome.output.strip().splitlines()
    if outcome.returncode == 0 and lines and lines[-1].startswith('ok:'):
        result.add('version_added of every plugin and role matches changelogs/changelog.yaml', Status.PASSED)
    else:
        result.add('version_added of every plugin and role matches changelogs/changelog.yaml', Status.FAILED,
                   _failed(outcome, 2500))


# antsibull-docs

def _docs_lint(session, result, venv, copy):
    env = _env(session, venv, ANSIBLE_COLLECTIONS_PATH=copy.parents[2])
    outcome = session.run([venv / 'bin' / 'antsibull-docs', 'lint-collection-docs', '--plugin-docs', copy],
                          env=env, timeout=TIME_LIMIT)
    test = 'antsibull-docs lint-collection-docs --plugin-docs'
    if outcome.returncode == 0:
        result.add(test, Status.PASSED)
    else:
        result.add(test, Status.FAILED, _failed(outcome, 2500))


# AWX project sync

def _awx_project(session, result, venv, copy, work):
    # Not under an ansible_collections/ tree: there Ansible would find the collection around the playbook.
    project = work / 'awx' / 'project'
    shutil.copytree(str(copy), str(project), ignore=_without_test_output(copy))
    installed = work / 'awx' / 'requirements_collections'
    env = _env(session, venv, ANSIBLE_COLLECTIONS_PATH=installed, ANSIBLE_LOCAL_TEMP=work / 'awx' / 'tmp')
    requirements = 'collections/requirements.yml'
    test = 'AWX project sync: ansible-galaxy collection install -r %s' % requirements
    if not (project / requirements).is_file():
        result.add(test, Status.FAILED, '%s is missing, so a project sync installs nothing' % requirements)
        return
    outcome = session.run([venv / 'bin' / 'ansible-galaxy', 'collection', 'install', '-r', requirements,
                           '--collections-path', installed], cwd=project, env=env, timeout=TIME_LIMIT)
    manifest = installed / 'ansible_collections' / 'tao' / 'fleet' / 'MANIFEST.json'
    if outcome.returncode != 0 or not manifest.is_file():
        result.add(test, Status.FAILED, _failed(outcome))
        return
    result.add(test, Status.PASSED)
    playbooks = sorted(path.stem for path in (copy / 'playbooks').glob('*.yml'))
    for name in playbooks:
        outcome = session.run([venv / 'bin' / 'ansible-playbook', '-i', 'localhost,', '--syntax-check',
                               'tao.fleet.%s' % name], cwd=work / 'awx', env=env, timeout=TIME_LIMIT)
        test = 'AWX job: ansible-playbook --syntax-check tao.fleet.%s (collection from the sync)' % name
        if outcome.returncode == 0 and ('playbook: ' in outcome.output):
            result.add(test, Status.PASSED)
        else:
            result.add(test, Status.FAILED, _failed(outcome))
    roles = sorted(path.name for path in (copy / 'roles').iterdir() if path.is_dir())
    for name in roles:
        outcome = session.run([venv / 'bin' / 'ansible-doc', '-t', 'role', 'tao.fleet.%s' % name], cwd=work / 'awx',
                              env=env, timeout=TIME_LIMIT)
        test = 'AWX job: role tao.fleet.%s resolves (collection from the sync)' % name
        # ansible-doc names the directory it found the role in: the one the sync installed into.
        if outcome.returncode == 0 and str(installed / 'ansible_collections' / 'tao' / 'fleet') in outcome.output:
            result.add(test, Status.PASSED)
        else:
            result.add(test, Status.FAILED, _failed(outcome))
