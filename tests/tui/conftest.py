"""Every lab and command-line test runs in a folder of its own: whatever the lab writes where
it is started (screenshots, the default checkpoint) lands there, never in the user's folder,
and what the user keeps in theirs cannot change a test's outcome.

Pilot waits for the lab to go idle after every key (twice) and every pause: it sleeps 1/50 s
and looks whether the process used under a twentieth of that in CPU time, again until it did.
The tests look every 1/100 s instead, for the same share: a key costs half the waiting, and
one look still outlasts Textual's resize timer (1/120 s)."""

import pytest
import textual._wait

IDLE_LOOK = 1 / 100  # seconds between two looks for idle (Textual's own: 1/50)


@pytest.fixture(autouse=True, scope="session")
def looks_for_idle_more_often():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(textual._wait, "SLEEP_GRANULARITY", IDLE_LOOK)
        patch.setattr(textual._wait, "SLEEP_IDLE", IDLE_LOOK / 20)
        yield


@pytest.fixture(autouse=True)
def in_a_fresh_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
