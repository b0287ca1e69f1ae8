# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    """Shared attribute documentation for nodeprep.netfilter modules.

    Use ``nodeprep.netfilter._attributes`` for the attribute descriptions, plus
    one of the fragments below for their support values.
    """

    # Descriptions of the attributes; support values come from the fragments below.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
"""

    # A facts module: reads only, returns ansible_facts.
    FACTS = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: This module only reads files and never changes the target, so it runs the same in check mode.
  diff_mode:
    support: N/A
    details: This module never changes the target.
  facts:
    support: full
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
"""

    # A read-only information or audit module (results, not facts).
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: This module is read-only and never changes the target, so it runs the same in check mode.
  diff_mode:
    support: N/A
    details: This module never changes the target.
"""

    # Runs on Linux targets only.
    PLATFORM_LINUX = r"""
options: {}
attributes:
  platform:
    support: full
    platforms: linux
    description: Target OS/families that can be operated against.
"""
