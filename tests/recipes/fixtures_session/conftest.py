"""The README's pytest `conftest.py` (recipe 6), taken from the README as it runs there, for
the pytest session that tests/recipes/test_pytest_fixtures.py starts in this directory."""

from tests.test_readme import NAMESPACE

anyio_backend = NAMESPACE["anyio_backend"]
session_app = NAMESPACE["session_app"]
fresh_app = NAMESPACE["fresh_app"]
asyncio_only = NAMESPACE["asyncio_only"]
runs_on_its_backend = NAMESPACE["runs_on_its_backend"]
