# The README's pytest conftest.py runs in a pytest session of its own (test_pytest_fixtures.py):
# its session-scoped fixtures would change how every other test here runs.
collect_ignore = ["fixtures_session"]
