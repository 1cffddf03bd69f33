# The README's pytest conftest.py files run in pytest sessions of their own
# (test_pytest_fixtures.py, test_pytest_asyncio.py): their session-scoped fixtures would change
# how every other test here runs.
collect_ignore = ["fixtures_session", "asyncio_session"]
