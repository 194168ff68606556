"""Fixtures shared by the test modules."""

import pytest

from lossbarcode.data import prepare


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    """The offline digits stand-in, prepared once: the path of its tensor file."""
    return str(prepare("digits", tmp_path_factory.mktemp("data")))
