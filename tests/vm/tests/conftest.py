"""Self-tests of the VM test bed's host-side logic (no VM needed). run-vm-tier runs them first."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache dir, so the tests never touch real images or VMs."""
    monkeypatch.setenv("NODEPREP_VM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
