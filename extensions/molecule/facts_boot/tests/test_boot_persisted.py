"""The checks of boot_checks.py on VM persisted only.

One test module per VM: pytest-xdist (molecule.yml: n 2, dist loadfile) verifies the VMs side by side, and
each VM's tests keep their file order on one worker.
"""

from boot_checks import *  # noqa: F401,F403

testinfra_hosts = ["ansible://persisted"]
