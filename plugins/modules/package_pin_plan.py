#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: package_pin_plan
short_description: Plan exact package pins and forbidden versions (apt preferences, dnf and dnf5 versionlock)
version_added: 1.0.0
description:
  - Validates a pin request and renders what pins it, without changing anything. The C(nodeprep.netfilter.package_pin)
    role writes the result with C(ansible.builtin.copy) and friends, so check mode and diff come from those modules.
  - Forbidden versions of the built-in presets come from the collection's known-issues table (the same table
    C(nodeprep.netfilter.docker_iptables_audit) reports from). Preset V(docker) forbids Docker 27.3.0, 27.3.1 and 28.0.0
    for docker-ce, docker-ce-cli, docker.io and docker-cli; preset V(iptables) forbids Debian iptables 1.8.11-1 (and its
    rebuilds before 1.8.11-2) for every binary package of Debian's iptables source package.
  - O(docker_version) (an upstream release such as V(27.5.1)) becomes the version string of the repository in use, for
    example V(5:27.5.1-1~debian.13~trixie) for Docker CE on Debian 13, or whatever C(+dfsg) version Debian's docker.io
    offers for that release.
  - Refuses to pin a known-bad version unless its issue code is listed in O(allow_known_bad), with the reason and references.
  - Reads the installed versions and holds (C(/var/lib/dpkg/status) or C(rpm -q)) and, with apt, what the repositories
    offer (C(apt-cache policy)), and reports what the pins will do to this host, for example a held or pinned package that
    would be upgraded or downgraded, or an installed version that is now forbidden. Notices of severity medium and high
    are also raised as warnings.
author:
  - nodeprep.netfilter developers (!UNKNOWN)
extends_documentation_fragment:
  - nodeprep.netfilter._attributes
  - nodeprep.netfilter._attributes.info_module
  - nodeprep.netfilter._attributes.platform_linux
options:
  name:
    description:
      - Name of the pin set. With apt the file is C(/etc/apt/preferences.d/<name>.pref); with dnf it names the pin
        set's block in C(versionlock.list) and its record of added entries in C(dnf.conf); with dnf5 it marks the pin
        set's entries in C(versionlock.toml) (their C(comment)) and names its drop-in
        C(/etc/dnf/libdnf5.conf.d/nodeprep-<name>.conf).
      - Letters, digits, V(-) and V(_) only, starting with a letter or digit, at most 250 characters; apt silently
        ignores files named otherwise. An empty name is an error, not the default.
    type: str
    default: nodeprep-pins
  presets:
    description: Built-in sets of forbidden versions.
    type: list
    elements: str
    choices: [docker, iptables]
    default: []
  docker_version:
    description:
      - Upstream Docker release to pin exactly, such as V(27.5.1). The package version is derived per distribution and
        repository (see O(docker_package)).
    type: str
  docker_package:
    description:
      - Which Docker packages O(docker_version) pins. V(auto) takes the installed engine package, otherwise the one a
        configured repository offers (docker-ce first).
    type: str
    choices: [auto, docker-ce, docker.io, moby-engine]
    default: auto
  pins:
    description: Exact pins given as package manager version strings.
    type: list
    elements: dict
    default: []
    suboptions:
      packages:
        description:
          - Package names pinned to O(pins[].version).
          - With apt, Debian package names (lowercase letters, digits, V(+), V(-), V(.); at least two characters);
            with dnf, RPM names (letters, digits, V(-._+)). No whitespace, comma or glob character.
        type: list
        elements: str
        required: true
      version:
        description:
          - The exact version, for example V(1.8.10-3) or V(3:27.5.1-1.el9), as the package manager spells it
            (deb-version(5) with apt, C([epoch:]version[-release]) with dnf); no whitespace, comma or pattern.
        type: str
        required: true
  forbid:
    description: Extra forbidden exact versions.
    type: list
    elements: dict
    default: []
    suboptions:
      packages:
        description: Package names the versions are forbidden for; the same rules as O(pins[].packages).
        type: list
        elements: str
        required: true
      versions:
        description: Exact versions to forbid; the same rules as O(pins[].version).
        type: list
        elements: str
        required: true
  allow_known_bad:
    description: Known-issue codes (for example V(DOCKER_27_3_BR_NETFILTER_DETECTION)) whose versions may be pinned anyway.
    type: list
    elements: str
    default: []
  priority:
    description: Pin-Priority of exact pins with apt; at least 1000, which lets apt downgrade to the pinned version.
    type: int
    default: 1001
  hold:
    description: List the exactly pinned packages in RV(hold) (apt only) so the role holds them with dpkg.
    type: bool
    default: false
  install:
    description: Compute RV(install), the exact C(name=version) list to install, and fail if a version is not offered.
    type: bool
    default: false
  replace_forbidden:
    description:
      - Compute RV(replace), each installed version the pin set forbids with the allowed version that replaces it (the
        pin set's exact pin of that package, else the highest version a repository offers that no rule forbids). Fails
        naming the package when no repository offers an allowed version.
      - With dnf, the offers are read with C(dnf repoquery --showduplicates) (only when a package of the pin set is
        installed); with dnf5, with C(dnf5 repoquery --setopt=disable_excludes=*), which ignores the user's excludes
        too (a target they exclude makes the install fail, naming it).
    type: bool
    default: false
    version_added: 1.1.0
  pkg_mgr:
    description:
      - Package manager to plan for. V(auto) takes apt when dpkg's status file or C(apt-get) exists; else dnf5 where
        C(dnf) is dnf5 (Fedora 41 and later, C(/usr/bin/dnf -> dnf5)) or only C(dnf5) exists; else dnf 4.
      - V(dnf) means dnf 4 (C(/etc/dnf/plugins/versionlock.list), C(excludepkgs) in C(/etc/dnf/dnf.conf)). Set it
        explicitly on a Debian host that carries dnf and rpm (a test rig), where V(auto) picks apt. Asking for it on a
        host whose C(dnf) is dnf5 fails with the reason (dnf5 ignores the files dnf 4 reads).
      - V(dnf5) means dnf5 (C(/etc/dnf/versionlock.toml), or C(excludepkgs) in a drop-in of the pin set's own under
        C(/etc/dnf/libdnf5.conf.d)). Set it explicitly on a Debian sid host carrying dnf5 (a test rig). It fails when
        no C(dnf5) command exists.
      - yum is not supported (EL 7 is end of life and no test ran it); a host with yum and no dnf fails with that
        reason.
    type: str
    choices: [auto, apt, dnf, dnf5]
    default: auto
  dnf_method:
    description:
      - With dnf, V(versionlock) renders C(versionlock.list) lines (locks and C(!) excludes; needs the versionlock
        plugin), V(excludepkgs) renders C(excludepkgs) patterns for forbidden versions only.
      - With dnf5, V(versionlock) renders entries of C(/etc/dnf/versionlock.toml) (built into dnf5); an exact pin is
        one entry C(evr = E:V-R), a forbidden version one entry per allowed interval (C(< E:V), C(>= E:V^)), both with
        the epoch taken from C(dnf5 repoquery) or the installed package. V(excludepkgs) renders the pin set's drop-in.
    type: str
    choices: [versionlock, excludepkgs]
    default: versionlock
  query_repositories:
    description: Run C(apt-cache policy) to learn which versions the repositories offer. Without it availability is unknown.
    type: bool
    default: true
  root:
    description:
      - Root of the file system whose os-release and package database are read (tests, chroots).
      - Must be an existing directory.
    type: path
    default: /
  validate_only:
    description:
      - Only check the request (names, versions, presets, issue codes, O(root)) and detect the package manager; run no
        command and read no package database. Returns RV(pkg_mgr) only.
      - The C(nodeprep.netfilter.package_pin) role does this first, before it refreshes the apt cache.
    type: bool
    default: false
notes:
  - With dnf5, C(/etc/dnf/versionlock.toml) is shared with the admin's own C(dnf5 versionlock) entries. The pin set's
    entries carry a C(comment) starting with C(nodeprep.netfilter.package_pin <name>); every other entry is kept (re-emitted
    from the parsed file; C(#) comments are not kept, as with C(dnf5 versionlock add)). dnf5 allows a version that
    meets any one entry of a name, so another entry for a name the pin set locks widens that lock; it is reported
    (C(DNF5_VERSIONLOCK_ENTRY_WIDENS)). A C(versionlock.toml) that is not valid TOML, or whose C(version) is not
    V("1.0") (dnf5 then ignores the whole file), fails the task and is left as it is. Reading and writing it needs
    Python 3.11 or later on the managed host (C(tomllib)).
  - With dnf5, a forbidden package no repository offers and the host does not have gets no versionlock entry (its
    epoch is unknown, and an entry without it would lock every version out) and the notice C(DNF5_FORBID_NOT_LOCKED);
    with O(query_repositories=false) that is an error, as is an exact pin whose epoch cannot be found.
  - With dnf, a C(dnf.conf) that cannot be read (a FIFO, a symlink loop, no permission) fails the task naming it, rather
    than being rewritten without the user's C(excludepkgs) entries. Several C(excludepkgs)/C(exclude) lines in C([main]),
    or a value continued on indented lines, fail too, because merging them would be a guess.
  - Every package name and version is checked as a whole string before anything is read or run; a trailing newline,
    a comma or a glob character is an error naming the value.
  - Each command it runs (C(apt-cache policy), C(rpm -q), C(dnf repoquery), C(dnf5 repoquery)) is killed after 60 seconds, and its output is capped at
    16 MiB; either is an error naming the command.
  - A package database that cannot be trusted is an error, never "nothing installed". A C(/var/lib/dpkg/status) that
    is a directory, a FIFO, binary, has CRLF line ends or holds no C(Package:) stanza, and an installed or offered
    version that does not parse, fail the task with the file or the version named.
  - Notice codes are C(PINNED_VERSION_NOT_AVAILABLE), C(PINNED_PACKAGE_WILL_CHANGE), C(HELD_PACKAGE_WILL_CHANGE),
    C(PINNED_PACKAGE_WOULD_CHANGE), C(HELD_PACKAGE_PIN_DIFFERS), C(PIN_HOLDS_BACK_UPGRADE), C(FORBIDDEN_VERSION_INSTALLED),
    C(KNOWN_BAD_PIN_ALLOWED), C(FORBIDDEN_VERSION_REPLACED), C(DOCKER_VERSION_SPELLED_DIFFERENTLY), C(PRESET_NOT_APPLICABLE),
    C(VERSIONLOCK_PLUGIN_MISSING), C(DNF5_FORBID_NOT_LOCKED) and C(DNF5_VERSIONLOCK_ENTRY_WIDENS).
  - A C(Pin-Priority) of -1 stops apt from choosing a version (upgrades, C(apt-get install pkg), dependencies, and
    Ansible's apt module with C(pkg=version)), but C(apt-get install pkg=version) typed by hand overrides every pin.
    Use O(hold) to make apt refuse changing an installed package without C(--allow-change-held-packages).
seealso:
  - name: apt_preferences(5)
    description: Pin priorities; the first matching specific pin wins.
    link: https://manpages.debian.org/trixie/apt/apt_preferences.5.en.html
  - module: nodeprep.netfilter.docker_iptables_audit
"""

EXAMPLES = r"""
- name: Forbid the known-bad Docker and iptables releases and pin Docker 27.5.1
  nodeprep.netfilter.package_pin_plan:
    presets: [docker, iptables]
    docker_version: "27.5.1"
  register: plan

- name: Write the preferences file
  ansible.builtin.copy:
    dest: "{{ plan.preferences_path }}"
    content: "{{ plan.preferences }}"
    mode: "0644"
"""

RETURN = r"""
pkg_mgr:
  description: The package manager planned for (with O(validate_only), the only value returned).
  returned: always
  type: str
  sample: apt
preferences_path:
  description: The apt preferences file of this pin set, or V(null) without apt.
  returned: unless O(validate_only)
  type: str
  sample: /etc/apt/preferences.d/nodeprep-pins.pref
preferences:
  description: Its content; empty when there is nothing to pin or forbid.
  returned: unless O(validate_only)
  type: str
versionlock_path:
  description: The versionlock list of dnf, C(/etc/dnf/versionlock.toml) with dnf5, or V(null) with apt.
  returned: unless O(validate_only)
  type: str
versionlock:
  description: Lines for the versionlock list (dnf, method V(versionlock)).
  returned: unless O(validate_only)
  type: list
  elements: str
  sample: ["docker-ce-3:27.5.1-1.el9.*", "!docker-ce-27.3.1-*"]
excludepkgs:
  description: Patterns for dnf's C(excludepkgs) (method V(excludepkgs)).
  returned: unless O(validate_only)
  type: list
  elements: str
dnf_conf_path:
  description: dnf's main configuration file, or V(null) with apt.
  returned: unless O(validate_only)
  type: str
  sample: /etc/dnf/dnf.conf
dnf_conf:
  description:
    - What RV(dnf_conf_path) becomes with the pin set V(present) and V(absent), or V(null) where it stays as it is.
    - RV(excludepkgs) is merged into the user's C(excludepkgs=) (or C(exclude=)) line of C([main]); the user's entries
      stay as written, and a comment after the line records the entries this pin set added, so removing the pin set
      takes out exactly those. The line is removed only when nothing but added entries was on it.
    - With O(dnf_method=versionlock), V(present) takes out what an earlier V(excludepkgs) run added.
  returned: unless O(validate_only)
  type: dict
  sample: {"present": "[main]\nexcludepkgs=kernel*,docker-ce-27.3.1-*\n# nodeprep.netfilter.package_pin nodeprep-pins added to
            excludepkgs: docker-ce-27.3.1-*\n", "absent": null}
dnf5_versionlock:
  description: The pin set's entries of dnf5's C(versionlock.toml) (C({name, comment, conditions})), dnf5 and method
    V(versionlock) only.
  returned: unless O(validate_only)
  type: list
  elements: dict
  version_added: 1.2.0
  sample: [{"name": "docker-ce", "comment": "nodeprep.netfilter.package_pin nodeprep-pins: pin 3:27.5.1-1.fc41 (pins[0])",
            "conditions": [{"key": "evr", "comparator": "=", "value": "3:27.5.1-1.fc41"}]}]
versionlock_toml:
  description:
    - What C(/etc/dnf/versionlock.toml) becomes with the pin set V(present) and V(absent), or V(null) where it stays
      as it is (always V(null) without dnf5). Entries of other owners are kept; with method V(excludepkgs),
      V(present) takes out what an earlier V(versionlock) run wrote.
  returned: unless O(validate_only)
  type: dict
  version_added: 1.2.0
dnf5_dropin_path:
  description: The pin set's excludepkgs drop-in for dnf5, or V(null) without dnf5.
  returned: unless O(validate_only)
  type: str
  version_added: 1.2.0
  sample: /etc/dnf/libdnf5.conf.d/nodeprep-nodeprep-pins.conf
dnf5_dropin:
  description: Its content with the pin set V(present) and V(absent); V(null) means the file must not exist.
  returned: unless O(validate_only)
  type: dict
  version_added: 1.2.0
pins:
  description: Each exactly pinned package with its resolved version, pattern, priority and whether a repository offers it.
  returned: unless O(validate_only)
  type: list
  elements: dict
  sample: [{"package": "docker-ce", "version": "5:27.5.1-1~debian.13~trixie", "pattern": "5:27.5.1-1~debian.13~trixie",
            "priority": 1001, "source": "docker_version", "upstream": "27.5.1", "flavour": "docker-ce", "available": true,
            "known_issues": []}]
forbidden:
  description: Each forbidden-version rule with its issue code, packages, versions, apt pattern and references.
  returned: unless O(validate_only)
  type: list
  elements: dict
install:
  description: Exact C(name=version) (apt) or C(name-version) (dnf) strings to install; empty unless O(install).
  returned: unless O(validate_only)
  type: list
  elements: str
  sample: ["docker-ce-cli=5:27.5.1-1~debian.13~trixie", "docker-ce=5:27.5.1-1~debian.13~trixie"]
hold:
  description: Packages to hold with dpkg (apt, O(hold)).
  returned: unless O(validate_only)
  type: list
  elements: str
replace:
  description: With O(replace_forbidden), each installed forbidden version and what replaces it.
  returned: unless O(validate_only)
  type: list
  elements: dict
  sample: [{"package": "iptables", "installed": "1.8.11-1", "version": "1.8.11-2", "direction": "upgrade",
            "codes": ["IPTABLES_1_8_11_1_DEBIAN"]}]
  version_added: 1.1.0
replace_install:
  description: RV(replace) as exact C(name=version) (apt) or C(name-version) (dnf) strings to install.
  returned: unless O(validate_only)
  type: list
  elements: str
  sample: ["iptables=1.8.11-2"]
  version_added: 1.1.0
changes:
  description: Every package version RV(install) and RV(replace_install) change, as C({package, installed, version, reason}).
  returned: unless O(validate_only)
  type: list
  elements: dict
  version_added: 1.1.0
restart_required:
  description:
    - Whether these changes need one restart of dockerd (the engine, or the iptables it writes its rules with, changes
      on a host with a Docker engine).
  returned: unless O(validate_only)
  type: bool
  version_added: 1.1.0
restart_reasons:
  description: The changes behind RV(restart_required), such as V(iptables 1.8.11-1 -> 1.8.11-2).
  returned: unless O(validate_only)
  type: list
  elements: str
  version_added: 1.1.0
policy_rc_d:
  description:
    - C(/usr/sbin/policy-rc.d), which invoke-rc.d and deb-systemd-invoke ask before a package script starts or
      restarts a service. C(state) is V(absent), V(ours) (left by an interrupted run) or V(foreign); C(content) is the
      temporary policy the role writes around an install that needs a Docker restart (101 for Docker's units).
  returned: unless O(validate_only)
  type: dict
  version_added: 1.1.0
installed:
  description: Installed versions of the packages involved, as C({version, held}).
  returned: unless O(validate_only)
  type: dict
notices:
  description: What the pins do to this host, each C({code, severity, package, message}).
  returned: unless O(validate_only)
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nodeprep.netfilter.plugins.module_utils._dpkg_status import dpkg_status_problem
from ansible_collections.nodeprep.netfilter.plugins.module_utils._pins import (
    PinError,
    plan_from_host,
    validate_from_host,
)
from ansible_collections.nodeprep.netfilter.plugins.module_utils._pkg_mgr import REQUESTABLE
from ansible_collections.nodeprep.netfilter.plugins.module_utils._rootfs import RootFS
from ansible_collections.nodeprep.netfilter.plugins.module_utils._subprocess import run_bounded
from ansible_collections.nodeprep.netfilter.plugins.module_utils._versions import VersionError


#: Overall deadline of each command (apt-cache policy, rpm -q), in seconds; documented in notes.
COMMAND_TIMEOUT = 60


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", default="nodeprep-pins"),
            presets=dict(type="list", elements="str", choices=["docker", "iptables"], default=[]),
            docker_version=dict(type="str"),
            docker_package=dict(type="str", choices=["auto", "docker-ce", "docker.io", "moby-engine"], default="auto"),
            pins=dict(type="list", elements="dict", default=[], options=dict(
                packages=dict(type="list", elements="str", required=True),
                version=dict(type="str", required=True),
            )),
            forbid=dict(type="list", elements="dict", default=[], options=dict(
                packages=dict(type="list", elements="str", required=True),
                versions=dict(type="list", elements="str", required=True),
            )),
            allow_known_bad=dict(type="list", elements="str", default=[]),
            priority=dict(type="int", default=1001),
            hold=dict(type="bool", default=False),
            install=dict(type="bool", default=False),
            replace_forbidden=dict(type="bool", default=False),
            pkg_mgr=dict(type="str", choices=list(REQUESTABLE), default="auto"),
            dnf_method=dict(type="str", choices=["versionlock", "excludepkgs"], default="versionlock"),
            query_repositories=dict(type="bool", default=True),
            root=dict(type="path", default="/"),
            validate_only=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params

    def run(argv):
        # Not module.run_command: it has no timeout, and a stuck apt-cache or rpm would hold the task for ever.
        return run_bounded(argv, timeout=COMMAND_TIMEOUT, environ_update={"LC_ALL": "C", "LANG": "C"})

    def which(name):
        return module.get_bin_path(name) if params["root"] == "/" else None

    try:
        if params["validate_only"]:
            module.exit_json(changed=False, pkg_mgr=validate_from_host(params, root=params["root"], which=which))
        validate_from_host(params, root=params["root"], which=which)
        # A corrupt status file parses as "nothing installed"; planning on that would be a confident wrong answer.
        problem = dpkg_status_problem(RootFS(params["root"]))
        if problem:
            module.fail_json(msg="cannot plan pins: %s" % problem)
        plan = plan_from_host(params, root=params["root"], run=run, which=which)
    except PinError as exc:
        module.fail_json(msg=str(exc))
    except VersionError as exc:
        # The request's versions were checked above, so this one came from the host.
        module.fail_json(msg="cannot plan pins: a version read from the host (dpkg status, rpm -q or apt-cache policy) "
                             "is malformed: %s" % exc)
    for notice in plan["notices"]:
        if notice["severity"] in ("medium", "high"):
            module.warn("%s: %s" % (notice["code"], notice["message"]))
    module.exit_json(changed=False, **plan)


if __name__ == "__main__":
    main()
