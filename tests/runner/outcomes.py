"""What a part of tests/run found: one outcome per individual test, read from JUnit XML where a tool writes it."""

import dataclasses
import enum
import pathlib
from xml.etree import ElementTree


class Status(enum.Enum):
    PASSED = 'passed'
    FAILED = 'failed'
    SKIPPED = 'skipped'


@dataclasses.dataclass
class Outcome:
    name: str
    status: Status
    detail: str = ''


@dataclasses.dataclass
class PartResult:
    outcomes: list = dataclasses.field(default_factory=list)
    # Plain statements for the reader, such as "no tests yet in tests/rtx": they count as nothing.
    notes: list = dataclasses.field(default_factory=list)

    def add(self, name, status, detail=''):
        self.outcomes.append(Outcome(name, status, detail))

    def count(self, status):
        return sum(1 for outcome in self.outcomes if outcome.status is status)

    def named(self, status):
        return [outcome for outcome in self.outcomes if outcome.status is status]


def read_junit(path, prefix, with_classname=True):
    """Outcomes of every <testcase> in the JUnit XML file at path, each name prefixed with prefix."""
    outcomes = []
    root = ElementTree.parse(path).getroot()
    for case in root.iter('testcase'):
        classname = case.get('classname', '') if with_classname else ''
        name = '%s%s%s' % (prefix, classname + '::' if classname else '', case.get('name', '?'))
        failure = case.find('failure')
        if failure is None:
            failure = case.find('error')
        skipped = case.find('skipped')
        if failure is not None:
            text = '\n'.join(part.strip() for part in (failure.get('message'), failure.text) if part and part.strip())
            outcomes.append(Outcome(name, Status.FAILED, text))
        elif skipped is not None:
            reason = skipped.get('message') or skipped.text or ''
            outcomes.append(Outcome(name, Status.SKIPPED, reason.strip()))
        else:
            outcomes.append(Outcome(name, Status.PASSED))
    return outcomes


def read_junit_files(directory, prefix, pattern='*.xml', with_classname=True):
    """Outcomes of all JUnit XML files matching pattern in directory, in file name order."""
    outcomes = []
    for path in sorted(pathlib.Path(directory).glob(pattern)):
        outcomes.extend(read_junit(path, prefix, with_classname))
    return outcomes
