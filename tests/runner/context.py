"""Paths, environment and command execution shared by the parts of tests/run."""

import os
import pathlib
import signal
import subprocess
import time


class PartError(Exception):
    """A part could not run at all (a venv did not build, a tool is missing): one failure, with this message."""


class Context:
    def __init__(self, repo, pytest_selection=None):
        self.repo = pathlib.Path(repo)
        self.output = self.repo / 'tests' / 'output'
        self.logs = self.output / 'logs'
        self.pythons = self.output / 'pythons'
        self.controller = self.output / 'controller'
        self.collections = self.output / 'collections'
        self.setup = self.repo / 'tests' / 'setup'
        # pytest -k expression for the parts that run pytest directly; None runs every test.
        self.pytest_selection = pytest_selection

    def environment(self, venv=None, **extra):
        """Environment for a tool: venv's bin first on PATH, then every Python of this machine as pythonX.Y."""
        env = dict(os.environ)
        for inherited in ('PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV', 'PYTEST_ADDOPTS'):
            env.pop(inherited, None)
        path = [str(self.pythons), env.get('PATH', '/usr/local/bin:/usr/bin:/bin')]
        if venv is not None:
            path.insert(0, str(pathlib.Path(venv) / 'bin'))
        env['PATH'] = os.pathsep.join(path)
        env.update({key: str(value) for key, value in extra.items()})
        return env

    def relative(self, path):
        path = pathlib.Path(path)
        try:
            return str(path.relative_to(self.repo))
        except ValueError:
            return str(path)


class CommandResult:
    def __init__(self, returncode, output, timed_out):
        self.returncode = returncode
        self.output = output
        self.timed_out = timed_out


class Session:
    """One part's run: every command it starts is logged, with its output, to the part's log file."""

    def __init__(self, context, name):
        self.context = context
        self.name = name
        context.logs.mkdir(parents=True, exist_ok=True)
        self.log_path = context.logs / ('%s.log' % name)
        self.log_path.write_text('')

    def venv(self, version, *requirements):
        """Path of the cached venv of Python version with these requirements files (tests/setup builds it once)."""
        command = [self.context.setup, 'venv', version] + [self.context.repo / path for path in requirements]
        outcome = self.run(command, env=self.context.environment())
        lines = outcome.output.strip().splitlines()
        if outcome.returncode != 0 or not lines:
            raise PartError('building the Python %s venv for %s failed (tests/setup venv exited %d):\n%s' % (
                version, ', '.join(requirements), outcome.returncode, outcome.output.strip()[-3000:]))
        return pathlib.Path(lines[-1])

    def python(self, version):
        """Path of the interpreter of Python version that tests use (tests/setup python)."""
        outcome = self.run([self.context.setup, 'python', version], env=self.context.environment())
        lines = outcome.output.strip().splitlines()
        if outcome.returncode != 0 or not lines:
            raise PartError('no Python %s: %s' % (version, outcome.output.strip()))
        return pathlib.Path(lines[-1])

    def note(self, text):
        with self.log_path.open('a') as log:
            log.write(text.rstrip('\n') + '\n')

    def run(self, command, cwd=None, env=None, timeout=None):
        """Run command with output to the log; return its exit status and output. Killed after timeout seconds."""
        command = [str(part) for part in command]
        cwd = str(cwd or self.context.repo)
        self.note('\n$ cd %s && %s' % (cwd, ' '.join(command)))
        started = time.monotonic()
        chunks = []
        with self.log_path.open('a') as log:
            # A new session, so that a timeout or Ctrl-C stops the tool and everything it started.
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
            timed_out = False
            try:
                for line in self._lines(process, started, timeout):
                    text = line.decode('utf-8', 'replace')
                    chunks.append(text)
                    log.write(text)
                    log.flush()
            except _Timeout:
                timed_out = True
                self._stop(process)
            except BaseException:
                self._stop(process)
                raise
            returncode = process.wait()
            message = '[exit %d after %.1f s%s]\n' % (
                returncode, time.monotonic() - started, ', killed: ran past %s s' % timeout if timed_out else '')
            log.write(message)
        return CommandResult(returncode, ''.join(chunks), timed_out)

    @staticmethod
    def _lines(process, started, timeout):
        if timeout is None:
            yield from process.stdout
            return
        # readline blocks; a watchdog alarm bounds a tool that hangs without output.

        def expire(signum, frame):
            raise _Timeout()
        remaining = timeout - (time.monotonic() - started)
        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, max(remaining, 0.01))
        try:
            yield from process.stdout
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    @staticmethod
    def _stop(process):
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def tail(self, lines=40):
        text = self.log_path.read_text(errors='replace').splitlines()
        return '\n'.join(text[-lines:])


class _Timeout(Exception):
    pass
