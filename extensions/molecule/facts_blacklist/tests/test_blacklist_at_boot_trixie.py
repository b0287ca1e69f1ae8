"""The checks of blacklist_at_boot_checks.py on VM trixie only.

One test module per VM: pytest-xdist (molecule.yml: n 2, dist loadfile) verifies the VMs side by side, and
each VM's tests keep their file order on one worker.
"""

from blacklist_at_boot_checks import *  # noqa: F401,F403

testinfra_hosts = ["ansible://trixie"]
