# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the get-pip bootstrap script that ansible-test downloads.

ansible-test bootstraps pip in each venv it creates by downloading get-pip-<version>.py from a CI host.
Where that host cannot be reached, this script is placed in ansible-test's cache under the expected name
(~/.ansible/test/cache/get_pip_<version>.py). It installs pip from the interpreter's own ensurepip wheel,
then lets that pip install the requested packages (pip==<version>) from the configured index.
"""

import subprocess
import sys

# get-pip accepts these to skip installing setuptools/wheel; plain pip does not know them.
GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}


def main():
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
    pip_args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + pip_args)


if __name__ == "__main__":
    main()
