"""The checks of kernel_states_checks.py on VM trixie only.

One test module per VM: pytest-xdist (molecule.yml: n 2, dist loadfile) verifies the VMs side by side, and
each VM's tests keep their file order on one worker.
"""

# pytest collects the test_* names of this module: the checks are taken over whole, this module only picks the VM.
from kernel_states_checks import *  # pylint: disable=wildcard-import,unused-wildcard-import
# The phases' autouse clean-up fixture: `import *` skips names that start with _.
from kernel_states_checks import _clean_up_after_the_phases  # pylint: disable=unused-import

testinfra_hosts = ["ansible://trixie"]
