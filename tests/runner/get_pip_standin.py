# Stand-in for the get-pip.py that ansible-test downloads from ci-files.testing.ansible.com, which this
# machine cannot reach. tests/setup copies it to ~/.ansible/test/cache/get_pip_<version>.py; ansible-test
# then runs it inside a fresh venv as: get_pip_<version>.py [pip options] pip==X setuptools==Y wheel==Z.
# It installs pip from the interpreter's bundled ensurepip wheel, then installs the requested packages.
# Runs under every Python that ansible-test bootstraps (2.7 and 3.6 included): keep it plain.
import ensurepip
import os
import subprocess
import sys

ensurepip.bootstrap()

# ensurepip leaves these in os.environ: the first hides the machine's pip config (its package index and
# certificates), the second points at a deleted directory and breaks pip on Python 3.6.
for leaked in ('PIP_CONFIG_FILE', 'PIP_REQ_TRACKER'):
    os.environ.pop(leaked, None)

# get-pip.py options that pip install does not know.
get_pip_only = ('--no-setuptools', '--no-wheel')
arguments = [argument for argument in sys.argv[1:] if argument not in get_pip_only]

sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install'] + arguments))
