# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os

import pytest

from ansible_collections.nodeprep.netfilter.plugins.module_utils._iptables import (
    IptablesParseError,
    chain_rules,
    docker_chains,
    format_rule,
    has_content,
    parse_iptables_save,
    parse_iptables_version,
    parse_table_names,
    rule_option,
    rule_target,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "docker")


def fixture(name):
    with open(os.path.join(FIXTURES, name + ".iptables-save.txt")) as handle:
        return handle.read()


D28_PUBLISH = "docker-28.5.2-trixie.dump3-icc-false-br_netfilter-loaded-publish-8080"
D26_DEFAULTS = "docker-26.1.5-trixie.dump1-defaults-br_netfilter-unloadable"


@pytest.mark.parametrize("text,expected", [
    ("iptables v1.8.11 (nf_tables)\n", {"version": "1.8.11", "backend": "nf_tables"}),
    ("iptables v1.8.11 (legacy)", {"version": "1.8.11", "backend": "legacy"}),
    ("iptables v1.8.9 (nf_tables)", {"version": "1.8.9", "backend": "nf_tables"}),
    ("iptables v1.6.1", {"version": "1.6.1", "backend": "legacy"}),  # before 1.8: legacy only
    ("iptables-nft v1.8.4 (nf_tables)", {"version": "1.8.4", "backend": "nf_tables"}),
    ("ip6tables v1.8.11 (nf_tables)", {"version": "1.8.11", "backend": "nf_tables"}),
])
def test_parse_iptables_version_reads_version_and_backend(text, expected):
    assert parse_iptables_version(text) == expected


@pytest.mark.parametrize("text", ["", "bash: iptables: command not found", "iptables v1.8.11 (bpfilter)"])
def test_parse_iptables_version_rejects_other_text(text):
    with pytest.raises(IptablesParseError):
        parse_iptables_version(text)


def test_docker_28_dump_has_tables_chains_policies_and_rules_in_order():
    parsed = parse_iptables_save(fixture(D28_PUBLISH))
    assert parsed["generator"] == {"version": "1.8.11", "backend": "nf_tables"}
    assert sorted(parsed["tables"]) == ["filter", "nat", "raw"]
    chains = parsed["tables"]["filter"]["chains"]
    assert chains["FORWARD"] == {"policy": "ACCEPT", "builtin": True}
    assert chains["DOCKER-FORWARD"] == {"policy": None, "builtin": False}
    forward = chain_rules(parsed, "filter", "FORWARD")
    assert [rule_target(rule) for rule in forward] == ["DOCKER-USER", "DOCKER-FORWARD"]
    assert len(parsed["tables"]["nat"]["rules"]) == 5


def test_docker_26_dump_has_forward_policy_drop_and_no_docker_forward_chain():
    parsed = parse_iptables_save(fixture(D26_DEFAULTS))
    assert parsed["tables"]["filter"]["chains"]["FORWARD"]["policy"] == "DROP"
    assert docker_chains(parsed) == {
        "filter": ["DOCKER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2", "DOCKER-USER"],
        "nat": ["DOCKER"],
    }


def test_rule_option_reports_value_and_negation():
    parsed = parse_iptables_save(fixture(D28_PUBLISH))
    dnat = [rule for rule in chain_rules(parsed, "nat", "DOCKER") if rule_target(rule) == "DNAT"][0]
    assert rule_option(dnat, "-i") == ("docker0", True)
    assert rule_option(dnat, "-p") == ("tcp", False)
    assert rule_option(dnat, "--dport") == ("8080", False)
    assert rule_option(dnat, "--to-destination") == ("172.17.0.2:80", False)
    assert rule_option(dnat, "-o") is None
    output = chain_rules(parsed, "nat", "OUTPUT")[0]
    assert rule_option(output, "-d") == ("127.0.0.0/8", True)
    assert rule_option(output, "--dst-type") == ("LOCAL", False)


def test_old_style_negation_after_the_option_is_understood():
    parsed = parse_iptables_save("*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -s 172.17.0.0/16 -o ! docker0 -j MASQUERADE\nCOMMIT\n")
    rule = parsed["tables"]["nat"]["rules"][0]
    assert rule_option(rule, "-o") == ("docker0", True)


def test_quoted_comments_and_counters_are_tokenised():
    text = ('*filter\n:INPUT ACCEPT [10:600]\n'
            '[5:300] -A INPUT -p tcp -m comment --comment "allow \\"ssh\\" here" -j ACCEPT\nCOMMIT\n')
    rule = parse_iptables_save(text)["tables"]["filter"]["rules"][0]
    assert rule_option(rule, "--comment") == ('allow "ssh" here', False)
    assert rule_target(rule) == "ACCEPT"
    assert format_rule(rule) == '-A INPUT -p tcp -m comment --comment "allow \\"ssh\\" here" -j ACCEPT'


def test_legacy_generator_line_without_backend_means_legacy():
    parsed = parse_iptables_save(fixture("derived-docker-28.5.2-trixie.dump1-split.legacy"))
    assert parsed["generator"] == {"version": "1.8.11", "backend": "legacy"}
    assert sorted(parsed["tables"]) == ["nat"]


def test_warning_comment_is_kept():
    text = "# Warning: iptables-legacy tables present, use iptables-legacy-save to see them\n"
    assert parse_iptables_save(text)["warnings"] == ["iptables-legacy tables present, use iptables-legacy-save to see them"]


def test_empty_output_is_an_empty_ruleset_without_content():
    parsed = parse_iptables_save("")
    assert parsed["tables"] == {}
    assert has_content(parsed) is False


def test_builtin_chains_with_accept_policy_are_not_content_but_drop_policy_is():
    empty = parse_iptables_save("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\nCOMMIT\n")
    drop = parse_iptables_save("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\nCOMMIT\n")
    assert has_content(empty) is False
    assert has_content(drop) is True


@pytest.mark.parametrize("text,message", [
    ("-A FORWARD -j ACCEPT\n", "line 1: .* outside a table"),
    ("*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -j ACCEPT\n", "not terminated by COMMIT"),
    ("*filter\n-A DOCKER -j RETURN\nCOMMIT\n", "line 2: rule for undeclared chain 'DOCKER'"),
    ("*filter\n:FORWARD\nCOMMIT\n", "line 2: malformed chain line"),
    ("*filter\nCOMMIT\n*filter\nCOMMIT\n", "line 3: table 'filter' appears twice"),
    ("*filter\n*nat\nCOMMIT\n", "line 2: table 'nat' starts before"),
    ("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment \"open\nCOMMIT\n", "line 3: No closing quotation"),
    ("*filter\nbogus\nCOMMIT\n", "line 2: unexpected 'bogus'"),
])
def test_malformed_dumps_raise_errors_naming_the_line(text, message):
    with pytest.raises(IptablesParseError, match=message):
        parse_iptables_save(text)


def test_parse_table_names_lists_existing_legacy_tables():
    assert parse_table_names("nat\nfilter\n") == ["filter", "nat"]
    assert parse_table_names("") == []
