"""VM test bed for nodeprep.netfilter: Debian images, QEMU driver, helpers.

Standard library only, so the host's python3 runs it without a venv.
"""
