# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Error paths of enter_netns; entering a namespace for real is the integration target's job
(it would move the whole pytest process)."""

from __future__ import annotations

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils._netns import NetnsError, enter_netns


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../../proc/1/ns/net"])
def test_names_that_are_not_plain_namespace_names_are_refused(name, tmp_path):
    with pytest.raises(NetnsError, match="invalid network namespace name"):
        enter_netns(name, netns_dir=str(tmp_path))


def test_missing_namespace_names_the_path_and_how_to_create_it(tmp_path):
    with pytest.raises(NetnsError) as caught:
        enter_netns("ci-docker", netns_dir=str(tmp_path))
    assert str(caught.value) == ("network namespace 'ci-docker' not found (no %s/ci-docker); "
                                 "create it with 'ip netns add ci-docker'" % tmp_path)


def test_a_file_that_is_not_a_namespace_is_refused_by_the_kernel(tmp_path):
    (tmp_path / "fake").write_text("")
    with pytest.raises(NetnsError, match="cannot enter network namespace 'fake': Invalid argument"):
        enter_netns("fake", netns_dir=str(tmp_path))


def test_a_fifo_in_the_netns_directory_is_refused_without_opening_it(tmp_path):
    import os
    os.mkfifo(str(tmp_path / "stuck"))  # opening it would block for ever
    with pytest.raises(NetnsError, match="is not a network namespace"):
        enter_netns("stuck", netns_dir=str(tmp_path))


def test_a_name_with_a_nul_byte_is_an_error_not_a_traceback(tmp_path):
    with pytest.raises(NetnsError):
        enter_netns("ci\x00docker", netns_dir=str(tmp_path))
