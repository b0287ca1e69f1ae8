"""The checks of boot_checks.py on VM sysctl_only only.

One test module per VM: pytest-xdist (molecule.yml: n 2, dist loadfile) verifies the VMs side by side, and
each VM's tests keep their file order on one worker.
"""

# pytest collects the test_* names of this module: the checks are taken over whole, this module only picks the VM.
from boot_checks import *  # pylint: disable=wildcard-import,unused-wildcard-import

testinfra_hosts = ["ansible://sysctl_only"]
