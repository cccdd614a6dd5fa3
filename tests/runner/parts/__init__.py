"""The parts of tests/run, in the order they run: quick static checks first, the slow fleet last."""

import collections

from . import docs, integration, lint, publish, sanity, suites, units, vermin

Part = collections.namedtuple('Part', 'name description run')

PARTS = (
    Part('vermin', vermin.DESCRIPTION, vermin.run),
    Part('lint', lint.DESCRIPTION, lint.run),
    Part('docs', docs.DESCRIPTION, docs.run),
    Part('publish', publish.DESCRIPTION, publish.run),
    Part('sanity', sanity.DESCRIPTION, sanity.run),
    Part('units', units.DESCRIPTION, units.run),
    Part('suites', suites.DESCRIPTION, suites.run),
    Part('integration', integration.DESCRIPTION, integration.run),
)
