# -*- coding: utf-8 -*-
# Copyright (c) nodeprep.netfilter contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fixture trees for br_netfilter unit tests.

Origin trees (named after the host they were captured on) are used in place.
A ``derived-*`` tree is an overlay: its ``derived.txt`` names the base tree
(``base:``), paths to delete (``remove:``) and why it exists (``why:``). It is
materialised into a temporary directory: base copied, overlay copied on top,
``.gitkeep`` files deleted (so empty directories such as a bare
/proc/sys/net/bridge survive git).

Every tree, origin or derived, is materialised into a temporary directory. A
file named ``NAME.symlink`` becomes a symlink NAME whose target is the file's
text: links such as /proc/self/ns/pid -> ``pid:[4026531836]`` point nowhere
inside a repository, and ansible-test's sanity rejects broken symlinks.
"""

from __future__ import annotations

import os
import shutil

import pytest

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "br_netfilter")


def read_derivation(name):
    base, removes = None, []
    with open(os.path.join(FIXTURES, name, "derived.txt")) as handle:
        for line in handle:
            key, _sep, value = line.strip().partition(": ")
            if key == "base":
                base = value
            elif key == "remove":
                removes.append(value)
    return base, removes


SYMLINK_SUFFIX = ".symlink"


def copy_tree(src, target):
    """Copy fixture files from ``src`` over ``target``, turning NAME.symlink files into symlinks."""
    for dirpath, _dirs, files in os.walk(src):
        rel_dir = os.path.relpath(dirpath, src)
        out_dir = os.path.normpath(os.path.join(target, rel_dir))
        os.makedirs(out_dir, exist_ok=True)
        for fname in files:
            if rel_dir == "." and fname == "derived.txt":
                continue
            in_path = os.path.join(dirpath, fname)
            out_name = fname[:-len(SYMLINK_SUFFIX)] if fname.endswith(SYMLINK_SUFFIX) else fname
            out_path = os.path.join(out_dir, out_name)
            if os.path.lexists(out_path):
                if os.path.isdir(out_path) and not os.path.islink(out_path):
                    shutil.rmtree(out_path)
                else:
                    os.unlink(out_path)
            if fname == ".gitkeep":
                continue
            if fname.endswith(SYMLINK_SUFFIX):
                with open(in_path) as handle:
                    os.symlink(handle.read().strip(), out_path)
            elif os.path.islink(in_path):
                os.symlink(os.readlink(in_path), out_path)
            else:
                shutil.copyfile(in_path, out_path)


def materialize(name, dest):
    """Build fixture tree ``name`` under ``dest`` and return its path."""
    target = os.path.join(str(dest), name)
    if name.startswith("derived-"):
        base, removes = read_derivation(name)
        shutil.copytree(materialize(base, dest), target, symlinks=True)
        for rel in removes:
            path = os.path.join(target, rel)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.unlink(path)
    elif os.path.isdir(target):
        return target
    copy_tree(os.path.join(FIXTURES, name), target)
    return target


@pytest.fixture
def tree(tmp_path):
    """tree("name") -> path of a materialised fixture tree."""
    def _tree(name):
        return materialize(name, tmp_path)
    return _tree


@pytest.fixture
def make_tree(tmp_path):
    """make_tree(base, {"etc/x": "text", "etc/link": ("->", "target")}) -> path.

    Starts from fixture tree ``base`` (or empty when None) and writes files;
    a value of None deletes the path.
    """
    counter = [0]

    def _make(base, files):
        counter[0] += 1
        root = os.path.join(str(tmp_path), "tree%d" % counter[0])
        if base:
            shutil.copytree(materialize(base, tmp_path / ("base%d" % counter[0])), root, symlinks=True)
        else:
            os.makedirs(root)
        for rel, content in files.items():
            path = os.path.join(root, rel)
            if content is None:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                elif os.path.lexists(path):
                    os.unlink(path)
                continue
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if os.path.lexists(path):
                os.unlink(path)
            if isinstance(content, tuple):
                os.symlink(content[1], path)
            elif isinstance(content, bytes):
                with open(path, "wb") as handle:
                    handle.write(content)
            else:
                with open(path, "w") as handle:
                    handle.write(content)
        return root
    return _make
