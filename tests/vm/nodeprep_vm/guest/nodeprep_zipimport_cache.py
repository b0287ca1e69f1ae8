"""Bytecode cache for modules imported from zip files (VM test bed only).

Baked into the test images with a .pth file, so it loads in every python3 of the guest.
Ansible runs each module from a fresh AnsiballZ payload zip, and zipimport compiles
every source file in it on every task, since it never writes bytecode. Under TCG that
compile of ansible.module_utils.basic and its imports costs about 4 s per task (measured:
-X importtime of AnsiballZ_ping in a trixie guest). This keeps the compiled code by the
hash of its source, the way __pycache__ does for files on disk: same source, same code
object; the file name in tracebacks is set to the real path of each run.
"""

import zipimport

CACHE_DIR = "/var/cache/nodeprep-zipimport"
_compile_source = zipimport._compile_source


def _cached_compile_source(pathname, source):
    import _imp
    import hashlib
    import importlib.util
    import marshal
    import os
    import sys

    digest = hashlib.sha256(importlib.util.MAGIC_NUMBER + bytes([sys.flags.optimize]) + source).hexdigest()
    cached = os.path.join(CACHE_DIR, digest)
    try:
        with open(cached, "rb") as handle:
            code = marshal.loads(handle.read())
    except (OSError, ValueError, EOFError, TypeError):
        code = None
    if code is not None:
        _imp._fix_co_filename(code, pathname)
        return code
    code = _compile_source(pathname, source)
    try:
        os.makedirs(CACHE_DIR, mode=0o755, exist_ok=True)
        partial = f"{cached}.{os.getpid()}.tmp"
        with open(partial, "wb") as handle:
            handle.write(marshal.dumps(code))
        os.replace(partial, cached)
    except OSError:
        pass
    return code


if getattr(zipimport._compile_source, "__name__", "") == "_compile_source":
    zipimport._compile_source = _cached_compile_source
