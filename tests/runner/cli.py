"""tests/run: every check of tao.fleet, one summary, one line `N passed, N failed` at the end."""

import argparse
import pathlib
import sys
import time
import traceback

from .context import Context, PartError, Session
from .outcomes import PartResult, Status
from .parts import PARTS

FAILED_SHOWN = 30
DETAIL_LINES = 5
LOG_TAIL_LINES = 40


def parse(argv):
    names = [part.name for part in PARTS]
    parser = argparse.ArgumentParser(
        prog='tests/run',
        description='Run the checks of tao.fleet. Parts: %s. Logs: tests/output/logs/<part>.log.' % ', '.join(names),
        epilog='tests/run first runs tests/setup (apt packages, venvs); --no-setup skips that.')
    parser.add_argument('--only', action='append', default=[], metavar='PARTS',
                        help='run only these parts (comma-separated, repeatable)')
    parser.add_argument('--skip', action='append', default=[], metavar='PARTS',
                        help='leave these parts out (comma-separated, repeatable)')
    parser.add_argument('--list', action='store_true', help='list the parts and exit')
    parser.add_argument('-k', dest='selection', metavar='EXPRESSION',
                        help='pytest -k expression for the parts that run pytest directly (suites, integration)')
    parser.add_argument('--no-setup', action='store_true', help='do not run tests/setup first (handled by tests/run)')
    args = parser.parse_args(argv)
    for option in ('only', 'skip'):
        chosen = [name.strip() for value in getattr(args, option) for name in value.split(',') if name.strip()]
        unknown = sorted(set(chosen) - set(names))
        if unknown:
            parser.error('unknown part(s) for --%s: %s (parts: %s)' % (option, ', '.join(unknown), ', '.join(names)))
        setattr(args, option, chosen)
    return args


def selected_parts(args):
    return [part for part in PARTS if (not args.only or part.name in args.only) and part.name not in args.skip]


def run_part(context, part):
    session = Session(context, part.name)
    print('== %s: %s' % (part.name, part.description), flush=True)
    started = time.monotonic()
    try:
        result = part.run(session)
    except PartError as error:
        result = PartResult()
        result.add(part.name, Status.FAILED, str(error))
        session.note('ERROR: %s' % error)
    except Exception:  # pylint: disable=broad-except
        # A bug in one part (or in the runner) fails that part; the other parts still run.
        result = PartResult()
        result.add(part.name, Status.FAILED, 'the runner failed:\n%s' % traceback.format_exc())
        session.note(traceback.format_exc())
    elapsed = time.monotonic() - started
    report(context, part, session, result, elapsed)
    return result, elapsed


def report(context, part, session, result, elapsed):
    for note in result.notes:
        print('   %s' % note)
    failed = result.named(Status.FAILED)
    for outcome in failed[:FAILED_SHOWN]:
        detail = outcome.detail.strip().splitlines()
        print('   FAILED %s%s' % (outcome.name, ': ' + detail[0] if detail else ''))
        # The cause of a traceback is at its end.
        shown = detail[1:] if len(detail) <= DETAIL_LINES + 1 else ['...'] + detail[-DETAIL_LINES:]
        for line in shown:
            print('      %s' % line)
    if len(failed) > FAILED_SHOWN:
        print('   ... and %d more failed' % (len(failed) - FAILED_SHOWN))
    if failed:
        print('   --- last %d lines of %s ---' % (LOG_TAIL_LINES, context.relative(session.log_path)))
        for line in session.tail(LOG_TAIL_LINES).splitlines():
            print('   | %s' % line)
    print('%s' % summary_line(part.name, result, elapsed), flush=True)


def summary_line(name, result, elapsed):
    skipped = result.count(Status.SKIPPED)
    return '%-12s %4d passed, %3d failed%s  %7.1f s%s' % (
        name, result.count(Status.PASSED), result.count(Status.FAILED),
        ', %3d skipped' % skipped if skipped else '              ', elapsed,
        '' if result.outcomes else '  (nothing counted)')


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    parts = selected_parts(args)
    if args.list:
        for part in PARTS:
            print('%-12s %s' % (part.name, part.description))
        return 0
    context = Context(pathlib.Path(__file__).resolve().parents[2], pytest_selection=args.selection)
    totals = []
    try:
        for part in parts:
            totals.append((part.name,) + run_part(context, part))
    except KeyboardInterrupt:
        print('\ninterrupted', flush=True)
        return 130
    print('\n== summary')
    passed = failed = skipped = 0
    for name, result, elapsed in totals:
        print(summary_line(name, result, elapsed))
        passed += result.count(Status.PASSED)
        failed += result.count(Status.FAILED)
        skipped += result.count(Status.SKIPPED)
    if skipped:
        print('%d skipped (not counted as passed; reasons in the logs)' % skipped)
    print('%d passed, %d failed' % (passed, failed), flush=True)
    return 1 if failed else 0
