"""capture-state: copy what br_netfilter_facts reads from a running VM into a fixture tree.

  capture-state VM OUTDIR [--force]

OUTDIR becomes a Linux root in the layout of tests/unit/fixtures/br_netfilter/: only the
files the facts module reads, symlinks stored as ``NAME.symlink`` holding the target
(tests/unit/conftest.py turns them back into links). Large files are cut to the lines
that matter (modules.dep, modules.builtin and /boot/config-*: see EXCERPTS). Beside the
tree, ``_capture/`` keeps iptables-save / ip6tables-save output of every backend present
and ``meta.json`` (VM image, kernel, time). Name OUTDIR for where it came from, e.g.
tests/unit/fixtures/br_netfilter/trixie-6.12-bridge-only.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import time
from pathlib import Path

from . import qemu
from .common import VMError, log

# Everything _kernel_env.py, _modules_load_d.py, _sysctl_d.py and _br_netfilter.py read.
PATHS = (
    "/proc/modules", "/proc/cmdline", "/proc/sys/kernel/osrelease", "/proc/sys/kernel/modules_disabled",
    "/proc/self/status", "/proc/self/uid_map", "/proc/self/ns/pid", "/proc/self/cgroup", "/proc/1/environ",
    "/proc/2/comm", "/proc/config.gz", "/run/systemd/container", "/run/.containerenv", "/.dockerenv",
    "/proc/sys/fs/binfmt_misc/WSLInterop",
    "/sys/module/br_netfilter", "/sys/module/bridge", "/sys/module/stp", "/sys/module/llc", "/sys/module/overlay",
    "/proc/sys/net/bridge", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding",
    "/lib/modules/{release}/modules.dep", "/lib/modules/{release}/modules.builtin", "/boot/config-{release}",
    "/etc/modprobe.d", "/run/modprobe.d", "/usr/local/lib/modprobe.d", "/usr/lib/modprobe.d", "/lib/modprobe.d",
    "/etc/modules-load.d", "/run/modules-load.d", "/usr/local/lib/modules-load.d", "/usr/lib/modules-load.d",
    "/lib/modules-load.d", "/etc/modules",
    "/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d",
    "/etc/sysctl.conf",
)
# File (by name) -> words a kept line must contain. Other lines are dropped.
EXCERPTS = {
    "modules.dep": ["br_netfilter.ko", "/bridge.ko", "/stp.ko", "/llc.ko", "/overlay.ko"],
    "modules.builtin": ["br_netfilter", "/bridge.ko", "/stp.ko", "/llc.ko", "/overlay.ko"],
    "config-": ["CONFIG_MODULES", "CONFIG_BRIDGE", "CONFIG_OVERLAY_FS", "CONFIG_NETFILTER="],
}
# Only these entries of /sys/module/<name>/ are kept (the module reads initstate; the rest is noise).
SYSFS_KEEP = ("initstate", "version", "refcnt")

# Runs in the guest (python3 from stdin): prints {path: entry} as JSON.
GUEST_SCRIPT = r'''
import base64, json, os, sys
paths, excerpts, sysfs_keep = json.loads(sys.argv[1])
release = open("/proc/sys/kernel/osrelease").read().strip()
out = {}

def keep_lines(path, data):
    for name, words in excerpts.items():
        if os.path.basename(path).startswith(name):
            text = data.decode("utf-8", "replace").splitlines(True)
            return "".join(l for l in text if any(w in l for w in words)).encode(), True
    return data, False

def add(path, depth=0):
    if depth > 20 or path in out:
        return
    parts = path.strip("/").split("/")
    cur = ""
    for i, part in enumerate(parts):
        cur += "/" + part
        if os.path.islink(cur) and cur != "/proc/self":
            target = os.readlink(cur)
            out[cur] = {"type": "symlink", "target": target}
            rest = "/".join(parts[i + 1:])
            base = target if target.startswith("/") else os.path.join(os.path.dirname(cur), target)
            if cur.startswith("/proc/self/ns/"):
                return
            add(os.path.normpath(os.path.join(base, rest)) if rest else os.path.normpath(base), depth + 1)
            return
    if os.path.isdir(cur):
        out[cur] = {"type": "dir"}
        for entry in sorted(os.listdir(cur)):
            if cur.startswith("/sys/module/") and entry not in sysfs_keep:
                continue
            add(cur + "/" + entry, depth + 1)
    elif os.path.exists(cur):
        try:
            with open(cur, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            out[cur] = {"type": "unreadable", "error": str(exc)}
            return
        data, cut = keep_lines(cur, data)
        out[cur] = {"type": "file", "b64": base64.b64encode(data).decode(), "excerpt": cut}

for p in paths:
    add(p.format(release=release))
json.dump({"release": release, "entries": out}, sys.stdout)
'''


def capture(vm: dict) -> dict:
    args = json.dumps([list(PATHS), EXCERPTS, list(SYSFS_KEEP)])
    remote = ["python3", "-c", GUEST_SCRIPT, args]
    return json.loads(qemu.ssh_check(vm, remote, timeout=300))


def write_tree(data: dict, out: Path) -> int:
    count = 0
    for path, entry in sorted(data["entries"].items()):
        target = out / path.lstrip("/")
        if entry["type"] == "dir":
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if entry["type"] == "symlink":
            target.with_name(target.name + ".symlink").write_text(entry["target"], encoding="utf-8")
        elif entry["type"] == "file":
            target.write_bytes(base64.b64decode(entry["b64"]))
        else:
            continue
        count += 1
    # Empty directories (e.g. an empty /proc/sys/net/bridge) survive git with a .gitkeep.
    for directory in sorted(p for p in out.rglob("*") if p.is_dir()):
        if not any(directory.iterdir()):
            (directory / ".gitkeep").write_text("", encoding="utf-8")
    return count


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="capture-state", description=__doc__.split("\n\n", 1)[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("vm", help="name of a running VM (vmctl list)")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--force", action="store_true", help="replace OUTDIR if it exists")
    args = parser.parse_args(argv)
    vm = qemu.load(args.vm)
    if not qemu.is_running(vm):
        raise VMError(f"VM {args.vm} is not running")
    if args.outdir.exists():
        if not args.force:
            raise VMError(f"{args.outdir} exists; pass --force to replace it")
        shutil.rmtree(args.outdir)
    data = capture(vm)
    tmp = args.outdir.with_name(f".{args.outdir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        count = _write_all(vm, data, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    tmp.rename(args.outdir)
    log(f"captured {count} files from {vm['name']} ({data['release']}) into {args.outdir}")
    return 0


def _write_all(vm: dict, data: dict, tmp: Path) -> int:
    count = write_tree(data, tmp)
    side = tmp / "_capture"
    side.mkdir()
    saved = []
    for tool in ("iptables-save", "ip6tables-save", "iptables-legacy-save", "ip6tables-legacy-save"):
        proc = qemu.ssh_run(vm, ["sh", "-c", f"command -v {tool} >/dev/null && {tool}"], timeout=300)
        if proc.returncode == 0:
            (side / f"{tool}.txt").write_text(proc.stdout, encoding="utf-8")
            saved.append(tool)
    version = qemu.ssh_run(vm, ["iptables", "--version"], timeout=300).stdout.strip()
    meta = {"vm": vm["name"], "image": vm["image"], "kernel_release": data["release"], "iptables": version,
            "captured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "files": count, "iptables_dumps": saved,
            "excerpts": dict(EXCERPTS), "tool": "tests/vm/capture-state"}
    (side / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return count
