# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""One error type for every stage, so that each failure names its cause and its fix.

Modules turn a TaoFleetError into ``module.fail_json(**err.to_result())``; the fleet report
shows ``cause`` and ``fix`` beside each failed host. Module utils raise it and never call
Ansible themselves, so they stay importable without ansible-core (unit tests run them under
every JetPack Python).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys


class TaoFleetError(Exception):
    """A failure an operator can act on.

    ``msg``   one line: what failed, on what (model, host path, version).
    ``cause`` the most likely reason, in plain words.
    ``fix``   the next thing to do.
    ``code``  a stable short id (``model_key_rejected``, ``uff_unsupported``...) that tests and
              playbooks can match on without parsing prose.
    ``details`` extra machine-readable facts (dict), returned as-is.
    """

    def __init__(self, msg, cause=None, fix=None, code=None, details=None):
        super(TaoFleetError, self).__init__(msg)
        self.msg = msg
        self.cause = cause
        self.fix = fix
        self.code = code or 'error'
        self.details = details or {}

    def __str__(self):
        parts = [self.msg]
        if self.cause:
            parts.append('Cause: %s' % self.cause)
        if self.fix:
            parts.append('Fix: %s' % self.fix)
        return ' '.join(parts)

    def to_result(self):
        """Keyword arguments for ``AnsibleModule.fail_json``."""
        result = {'msg': str(self), 'error_code': self.code}
        if self.cause:
            result['cause'] = self.cause
        if self.fix:
            result['fix'] = self.fix
        if self.details:
            result['error_details'] = self.details
        return result


class OptionalImportError(TaoFleetError):
    """An optional Python package (numpy, cryptography, tensorrt, pycuda, onnxruntime) is missing."""

    def __init__(self, package, needed_for, install_hint, details=None):
        super(OptionalImportError, self).__init__(
            'Python package %r is needed for %s but cannot be imported.' % (package, needed_for),
            cause='%s is not importable by the interpreter running this module (%s); JetPack '
                  'installs its Python packages for the system python3 only.' % (package, sys.executable),
            fix=install_hint,
            code='missing_python_package',
            details=details,
        )
        self.package = package
