"""A bare blacklist line against a modules-load.d entry, across a real reboot.

Before the reboot: nothing is loaded, the report names the blacklist and predicts that the
module will not be active at boot. After it: systemd-modules-load skipped the module
("deny-listed (by kmod)"), which is what the prediction said.
"""

import pytest

from nodeprep_testinfra import assert_facts_match_kernel, br_netfilter_facts, codes, kernel, rebooted

BLACKLIST_CONF = "/etc/modprobe.d/nodeprep-test-blacklist.conf"


def test_report_names_the_blacklist_and_the_modules_load_entry(host):
    view = kernel(host)
    assert not view.loaded
    facts = br_netfilter_facts(host)
    assert_facts_match_kernel(facts, view)
    assert facts["state"] == "loadable"
    assert facts["blacklisted"] is True
    assert facts["blacklist_files"] == [BLACKLIST_CONF]
    assert facts["modules_load"]["br_netfilter"]["persisted"] is True
    assert "BR_NETFILTER_BLACKLISTED" in codes(facts)


def test_blacklisted_module_is_predicted_inactive_at_boot(host):
    facts = br_netfilter_facts(host)
    assert facts["module_active_at_boot"] is False
    assert facts["ready_after_reboot"] is False


def test_systemd_modules_load_skips_a_blacklisted_module_at_boot(host):
    if not rebooted(host):
        pytest.skip("checks the boot after the reboot")
    view = kernel(host)
    assert not view.sysfs and not view.in_proc_modules and not view.bridge_dir
    # trixie (systemd 257): "Module 'br_netfilter' is deny-listed (by kmod)", under the unit;
    # bookworm (systemd 252): "Module 'br_netfilter' is deny-listed", logged before the unit is attached.
    journal = host.check_output("journalctl -b --no-pager -o cat -t systemd-modules-load")
    assert "Module 'br_netfilter' is deny-listed" in journal
    # The blacklist stops only the boot-time load: an explicit modprobe still works.
    host.run_expect([0], "modprobe br_netfilter")
    assert kernel(host).loaded
    host.run_expect([0], "modprobe -r br_netfilter")
