"""Every lab and command-line test runs in a folder of its own: whatever the lab writes where
it is started (screenshots, the default checkpoint) lands there, never in the user's folder,
and what the user keeps in theirs cannot change a test's outcome."""

import pytest


@pytest.fixture(autouse=True)
def in_a_fresh_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
