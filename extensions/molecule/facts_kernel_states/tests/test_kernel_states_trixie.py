"""The checks of kernel_states_checks.py on VM trixie only.

One test module per VM: pytest-xdist (molecule.yml: n 2, dist loadfile) verifies the VMs side by side, and
each VM's tests keep their file order on one worker.
"""

from kernel_states_checks import *  # noqa: F401,F403
from kernel_states_checks import _clean_up_after_the_phases  # noqa: F401  (autouse; * skips _ names)

testinfra_hosts = ["ansible://trixie"]
