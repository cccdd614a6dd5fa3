"""Every module, plugin and role says the release that first shipped it (version_added), as the changelog records.

    python version_added.py PLUGIN_CACHE CHANGELOG_YAML

PLUGIN_CACHE is the changelogs/.plugin-cache.yaml that antsibull-changelog wrote from the plugins as they are
(tests/runner/parts/publish.py regenerates it first); CHANGELOG_YAML is changelogs/changelog.yaml. For each
plugin and role: version_added is set; if it names a release, that release lists it as new (antsibull-changelog
lists a plugin as new only in the release its version_added names, so a wrong one drops it from every
"New Modules" section); otherwise it is later than every release (new since then: the next release lists it),
and no earlier release lists it. Prints one line per problem and "ok: N checked" when there is none.
Runs in the publish venv (PyYAML, packaging).
"""

import sys

import yaml
from packaging.version import InvalidVersion, Version


def listed(release):
    """{(kind, name)} that a release of changelog.yaml lists as new; kind is a plugin type or 'role'."""
    names = {('module', entry['name']) for entry in release.get('modules') or []}
    for plugin_type, entries in (release.get('plugins') or {}).items():
        names.update((plugin_type, entry['name']) for entry in entries or [])
    for object_type, entries in (release.get('objects') or {}).items():
        names.update((object_type, entry['name']) for entry in entries or [])
    return names


def main(cache_path, changelog_path):
    with open(cache_path) as stream:
        cache = yaml.safe_load(stream)
    with open(changelog_path) as stream:
        releases = (yaml.safe_load(stream) or {}).get('releases') or {}
    new_in = {version: listed(release) for version, release in releases.items()}
    latest = max((Version(version) for version in releases), default=None)
    items = [(plugin_type, name, data) for plugin_type, plugins in sorted(cache.get('plugins', {}).items())
             for name, data in sorted((plugins or {}).items())]
    items += [(object_type, name, data) for object_type, objects in sorted(cache.get('objects', {}).items())
              for name, data in sorted((objects or {}).items())]
    problems = []
    for kind, name, data in items:
        shown = '%s %s' % (kind, name)
        added = (data or {}).get('version_added')
        where = sorted(version for version, names in new_in.items() if (kind, name) in names)
        if not added:
            problems.append('%s: no version_added; fix: add it (the version of the release that ships it first)'
                            % shown)
            continue
        try:
            version = Version(str(added))
        except InvalidVersion:
            problems.append('%s: version_added %r is not a version' % (shown, added))
            continue
        if str(added) in releases:
            if where != [str(added)]:
                problems.append('%s: version_added %s, but the changelog lists it as new in %s' % (
                    shown, added, ', '.join(where) or 'no release'))
        elif latest is not None and version <= latest:
            problems.append('%s: version_added %s is no release and not after the last one (%s); fix: the '
                            'release that first shipped it' % (shown, added, latest))
        elif where:
            problems.append('%s: version_added %s, but release %s already lists it as new' % (
                shown, added, ', '.join(where)))
    for problem in problems:
        print(problem)
    if not items:
        print('no plugins or roles in %s' % cache_path)
        return 1
    if problems:
        return 1
    print('ok: %d checked' % len(items))
    return 0


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit('usage: version_added.py PLUGIN_CACHE CHANGELOG_YAML')
    sys.exit(main(sys.argv[1], sys.argv[2]))
