"""The test runner behind tests/run (standard library only, Python 3.10+)."""
