"""Shared paths, logging, locking and subprocess helpers of the VM test bed."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_CACHE = "/var/cache/nodeprep-vm"


class VMError(Exception):
    """A failure of the test bed itself, reported to the user as one clear line."""


def cache_dir() -> Path:
    """Root of every cached artefact; outside the repository on purpose."""
    path = Path(os.environ.get("NODEPREP_VM_CACHE", DEFAULT_CACHE))
    path.mkdir(parents=True, exist_ok=True)
    return path


def log(msg: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[vm {stamp}] {msg}", file=sys.stderr, flush=True)


def run(cmd, *, check=True, capture=False, timeout=None, env=None, cwd=None, input_text=None):
    """Run a command; on failure raise VMError carrying the command's stderr."""
    proc = subprocess.run(  # pylint: disable=subprocess-run-check
        [str(c) for c in cmd],
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
        input=input_text,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )
    if check and proc.returncode != 0:
        detail = (proc.stderr or "").strip()[-2000:] if capture else ""
        raise VMError(f"command failed ({proc.returncode}): {' '.join(str(c) for c in cmd)}\n{detail}")
    return proc


@contextlib.contextmanager
def locked(name: str):
    """Exclusive lock under the cache dir, so two runs never build the same thing at once."""
    lock_dir = cache_dir() / "locks"
    lock_dir.mkdir(exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ssh_key() -> Path:
    """The project's own root-login key, generated once per cache dir."""
    key_dir = cache_dir() / "ssh"
    key = key_dir / "id_ed25519"
    if key.exists() and key.with_suffix(".pub").exists():
        return key
    with locked("ssh-key"):
        if not key.exists():
            key_dir.mkdir(mode=0o700, exist_ok=True)
            tmp = key_dir / f"tmp-{os.getpid()}"
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nodeprep-vm", "-f", tmp], capture=True)
            os.replace(f"{tmp}.pub", key.with_suffix(".pub"))
            os.replace(tmp, key)
    return key


def sha256_text(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def wait_until(predicate, *, timeout: float, interval: float = 0.5, what: str = "condition"):
    """Poll predicate() until it returns a truthy value; bounded, no fixed sleeps."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise VMError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
