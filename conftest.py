"""Root fixtures, shared by tests/ and the doctests in neurotwin/."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_key():
    """Tests use a fixed de-identification key: no key file in $HOME."""
    mp = pytest.MonkeyPatch()
    mp.setenv("NEUROTWIN_DEID_KEY", "test-suite-key")
    yield
    mp.undo()
