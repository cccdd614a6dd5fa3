"""Documentation renders for every module, plugin and role, and the collection builds with ansible-galaxy."""

import json
import pathlib
import tarfile
import tempfile

from ..outcomes import PartResult, Status
from ..tree import collection_copy

DESCRIPTION = 'ansible-doc renders every module, plugin and role; ansible-galaxy collection build works'
# Plugin types that ansible-doc documents and that live in plugins/<type>/ (modules are handled on their own).
PLUGIN_TYPES = ('become', 'cache', 'callback', 'cliconf', 'connection', 'filter', 'httpapi', 'inventory',
                'lookup', 'netconf', 'shell', 'strategy', 'test', 'vars')
NAMESPACE = 'tao.fleet'


def run(session):
    context = session.context
    result = PartResult()
    copy = collection_copy(context.repo)
    env = context.environment(context.controller, ANSIBLE_COLLECTIONS_PATH=copy.parents[2])
    ansible_doc = context.controller / 'bin' / 'ansible-doc'

    modules = sorted(path.stem for path in (copy / 'plugins' / 'modules').glob('*.py') if path.name != '__init__.py')
    for module in modules:
        _render(session, result, ansible_doc, env, 'module', '%s.%s' % (NAMESPACE, module))

    for plugin_type in PLUGIN_TYPES:
        directory = copy / 'plugins' / plugin_type
        if not any(path.name != '__init__.py' for path in directory.glob('*.py')):
            continue
        listing = session.run([ansible_doc, '-t', plugin_type, '-l', NAMESPACE, '--json'], env=env)
        names = _listed(listing)
        if names is None or not names:
            result.add('ansible-doc -t %s -l %s' % (plugin_type, NAMESPACE), Status.FAILED,
                       'plugins/%s/ has Python files but ansible-doc lists no %s plugin of %s' % (
                           plugin_type, plugin_type, NAMESPACE))
            continue
        for name in names:
            _render(session, result, ansible_doc, env, plugin_type, name)

    roles = sorted(path.name for path in (copy / 'roles').iterdir() if path.is_dir()) if (copy / 'roles').is_dir() else []
    for role in roles:
        # Renders only from meta/argument_specs.yml, which every role has so that bad variables fail early.
        _render(session, result, ansible_doc, env, 'role', '%s.%s' % (NAMESPACE, role))

    _build(session, result, copy)
    return result


def _listed(listing):
    if listing.returncode != 0:
        return None
    try:
        start = listing.output.index('{')
        return sorted(json.loads(listing.output[start:listing.output.rindex('}') + 1]))
    except ValueError:
        return None


def _render(session, result, ansible_doc, env, plugin_type, name):
    outcome = session.run([ansible_doc, '-t', plugin_type, name], env=env)
    test = 'ansible-doc -t %s %s' % (plugin_type, name)
    # ansible-doc exits 0 with only a warning when it finds nothing: check that the page itself came out.
    if outcome.returncode == 0 and ('> %s' % name.upper()) in outcome.output and 'not found' not in outcome.output:
        result.add(test, Status.PASSED)
    else:
        result.add(test, Status.FAILED, 'exit %d: %s' % (outcome.returncode, outcome.output.strip()[-1500:]))


def _build(session, result, copy):
    """Build the collection from the copy (what git would ship), check the artifact, and install it."""
    context = session.context
    output = context.output / 'build'
    output.mkdir(parents=True, exist_ok=True)
    for old in output.glob('*.tar.gz'):
        old.unlink()
    env = context.environment(context.controller)
    ansible_galaxy = context.controller / 'bin' / 'ansible-galaxy'
    outcome = session.run([ansible_galaxy, 'collection', 'build', '--force', '--output-path', output, copy], env=env)
    built = sorted(output.glob('tao-fleet-*.tar.gz'))
    test = 'ansible-galaxy collection build'
    if outcome.returncode != 0 or not built:
        result.add(test, Status.FAILED, 'exit %d: %s' % (outcome.returncode, outcome.output.strip()[-1500:]))
        return
    missing = _missing_readme(built[-1])
    if missing:
        result.add(test, Status.FAILED, missing)
    else:
        result.add(test, Status.PASSED)
    with tempfile.TemporaryDirectory() as target:
        outcome = session.run([ansible_galaxy, 'collection', 'install', '--offline', '-p', target, built[-1]], env=env)
        installed = (pathlib.Path(target) / 'ansible_collections' / 'tao' / 'fleet' / 'MANIFEST.json').is_file()
    test = 'ansible-galaxy collection install %s' % built[-1].name
    if outcome.returncode == 0 and installed:
        result.add(test, Status.PASSED)
    else:
        result.add(test, Status.FAILED, 'exit %d: %s' % (outcome.returncode, outcome.output.strip()[-1500:]))


def _missing_readme(artifact):
    """Galaxy refuses a collection whose readme (galaxy.yml: readme) is not in the artifact; so does this test."""
    with tarfile.open(str(artifact)) as archive:
        manifest = json.load(archive.extractfile('MANIFEST.json'))
        readme = manifest['collection_info'].get('readme')
        if readme and readme not in archive.getnames():
            return ('%s is missing from %s; cause: galaxy.yml names it as the readme but the repo has no %s; '
                    'fix: write %s' % (readme, artifact.name, readme, readme))
    return ''
