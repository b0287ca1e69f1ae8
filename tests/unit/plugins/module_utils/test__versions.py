# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import shutil
import subprocess

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils._versions import (
    VersionError,
    compare_versions,
    parse_deb_version,
    parse_rpm_evr,
    upstream_version,
    version_matches,
)

# (left, right, expected sign) under dpkg rules; the real-world versions come
# from Docker CE, Debian docker.io and Debian iptables packages.
DEB_CASES = [
    ("5:27.3.1-1~debian.12~bookworm", "5:27.3.1-1~debian.12~bookworm", 0),
    ("5:27.3.1-1~debian.12~bookworm", "5:27.4.0-1~debian.12~bookworm", -1),
    ("5:27.3.1-1~debian.12~bookworm", "28.5.2+dfsg4-5", 1),  # epoch wins over everything
    ("28.5.2+dfsg4-5", "26.1.5+dfsg1-9+deb13u1", 1),
    ("1.8.11-1", "1.8.11-2", -1),
    ("1.8.11-1+b1", "1.8.11-2", -1),
    ("1.8.11-1", "1.8.11-1+b1", -1),
    ("27.5.1", "27.10.0", -1),  # numeric, not lexical
    ("27.10.0", "27.9.9", 1),
    ("1.0~rc1", "1.0", -1),  # tilde sorts before the end
    ("1.0~rc1", "1.0~rc1~git1", 1),
    ("1.0~~", "1.0~", -1),
    ("1.0", "1.0+deb1", -1),
    ("1.0a", "1.0+", -1),  # letters sort before non-letters
    ("1.0", "1.0-0", 0),  # missing revision equals revision 0
    ("0:1.0", "1.0", 0),
    ("1.001", "1.1", 0),  # leading zeros do not count
    ("2:1.0", "1:9.9", 1),
    ("10", "9", 1),
    ("1.2.3-1ubuntu1", "1.2.3-1", 1),
]


@pytest.mark.parametrize("left,right,expected", DEB_CASES)
def test_deb_compare_orders_like_dpkg(left, right, expected):
    assert compare_versions(left, right, "deb") == expected
    assert compare_versions(right, left, "deb") == -expected


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg not installed")
@pytest.mark.parametrize("left,right,expected", DEB_CASES)
def test_deb_compare_agrees_with_real_dpkg(left, right, expected):
    operator = {-1: "lt", 0: "eq", 1: "gt"}[expected]
    result = subprocess.run(["dpkg", "--compare-versions", left, operator, right], check=False)
    assert result.returncode == 0, "dpkg disagrees: %s %s %s" % (left, operator, right)


RPM_CASES = [
    ("27.3.1-1.el9", "27.3.1-1.el9", 0),
    ("3:27.3.1-1.el9", "27.5.1-1.el9", 1),  # epoch
    ("27.5.1-1.fc41", "27.10.0-1.fc41", -1),
    ("1.8.11-1.fc42", "1.8.11-2.fc42", -1),
    ("1.0a", "1.0", 1),
    ("1.0~rc1", "1.0", -1),
    ("1.0~rc1", "1.0~rc1~git123", 1),
    ("1.0^", "1.0", 1),
    ("1.0^git1", "1.0.1", -1),
    ("1.0^git1", "1.0^git2", -1),
    ("5.5p1", "5.5p10", -1),
    ("xyz.4", "8", -1),  # numeric segment beats alphabetic
    ("10xyz", "10.1xyz", -1),
    ("1.0010", "1.9", 1),
    ("2.0", "2_0", 0),  # separators are equal
    ("1.0", "1.0-1", 0),  # release only compared when both carry one
]


@pytest.mark.parametrize("left,right,expected", RPM_CASES)
def test_rpm_compare_orders_like_rpmvercmp(left, right, expected):
    assert compare_versions(left, right, "rpm") == expected
    assert compare_versions(right, left, "rpm") == -expected


@pytest.mark.parametrize("version,expected", [
    ("5:27.3.1-1~debian.12~bookworm", (5, "27.3.1", "1~debian.12~bookworm")),
    ("28.5.2+dfsg4-5", (0, "28.5.2+dfsg4", "5")),
    ("1.8.11-1", (0, "1.8.11", "1")),
    ("1.2-3-4", (0, "1.2-3", "4")),
    ("27.3.1", (0, "27.3.1", "")),
])
def test_parse_deb_version_splits_epoch_upstream_revision(version, expected):
    assert parse_deb_version(version) == expected


@pytest.mark.parametrize("bad", ["", "   ", "abc", "x:1.0", "1.0 beta", "1.0-", None, "1:2:3"])
def test_parse_deb_version_rejects_garbage_with_a_clear_error(bad):
    with pytest.raises(VersionError):
        parse_deb_version(bad)


def test_parse_rpm_evr_splits_epoch_version_release():
    assert parse_rpm_evr("3:27.3.1-1.el9") == (3, "27.3.1", "1.el9")
    assert parse_rpm_evr("1.8.11") == (0, "1.8.11", "")


def test_unknown_scheme_is_an_error_naming_the_choices():
    with pytest.raises(VersionError, match="deb, rpm"):
        compare_versions("1", "2", "apk")


@pytest.mark.parametrize("version,expected", [
    ("5:27.3.1-1~debian.12~bookworm", "27.3.1"),
    ("28.5.2+dfsg4-5", "28.5.2"),
    ("28.5.2+dfsg4", "28.5.2"),  # docker info ServerVersion on Debian
    ("26.1.5+dfsg1-9+deb13u1", "26.1.5"),
    ("3:27.3.1-1.el9", "27.3.1"),
    ("28.0.0-rc.1", "28.0.0"),
    ("v1.8.11", "1.8.11"),
    ("dev", None),
    ("", None),
    (None, None),
])
def test_upstream_version_extracts_the_leading_dotted_number(version, expected):
    assert upstream_version(version) == expected


@pytest.mark.parametrize("version,spec,expected", [
    ("27.3.0", {"exact": ["27.3.0", "27.3.1"]}, True),
    ("27.3.2", {"exact": ["27.3.0", "27.3.1"]}, False),
    ("27.5.0", {"before": "27.5.1"}, True),
    ("27.5.1", {"before": "27.5.1"}, False),
    ("28.0.0", {"min": "28.0.0", "before": "28.0.1"}, True),
    ("28.0.1", {"min": "28.0.0", "before": "28.0.1"}, False),
    ("27.10.0", {"min": "27.3.0"}, True),
    ("1.8.11-1+b1", {"min": "1.8.11-1", "before": "1.8.11-2"}, True),
    ("1.8.11-2", {"min": "1.8.11-1", "before": "1.8.11-2"}, False),
    ("1.8.10-4", {"min": "1.8.11-1", "before": "1.8.11-2"}, False),
    ("9.9", {}, True),
])
def test_version_matches_inclusive_min_exclusive_before_and_exact_lists(version, spec, expected):
    assert version_matches(version, spec) is expected
