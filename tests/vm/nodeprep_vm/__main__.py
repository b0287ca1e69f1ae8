"""python3 -m nodeprep_vm ENTRY ARGS... (the bash wrappers in tests/vm call this)."""

import sys

from .cli import main

if __name__ == "__main__":
    ENTRY = sys.argv.pop(1) if len(sys.argv) > 1 else ""
    sys.exit(main(ENTRY))
