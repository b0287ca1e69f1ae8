"""Command lines of the VM test bed: vmctl and build-image."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import images, qemu
from .common import VMError, log


def vmctl(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="vmctl", description="Boot, reach, reboot and stop test VMs (QEMU/TCG).")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="boot NAME from a fresh overlay of an image")
    p_up.add_argument("name")
    p_up.add_argument("--image", required=True, choices=sorted(images.IMAGES))
    p_up.add_argument("--cold", action="store_true", help="always cold boot, never restore a saved state")
    p_up.add_argument("--json", action="store_true", help="print the VM record as JSON")
    p_up.add_argument("--replace", action="store_true", help="force-stop a VM of the same name first")
    p_up.add_argument("--molecule-instance", metavar="INSTANCE",
                      help="print molecule's instance-config entry for INSTANCE as JSON")
    p_down = sub.add_parser("down", help="clean poweroff, then stop QEMU by its pid file and drop the overlay")
    p_down.add_argument("names", nargs="+")
    p_down.add_argument("--force", action="store_true", help="skip the clean poweroff")
    p_ssh = sub.add_parser("ssh", help="run a command in NAME (vmctl ssh NAME -- cmd ...)")
    p_ssh.add_argument("name")
    p_ssh.add_argument("command", nargs=argparse.REMAINDER)
    p_reboot = sub.add_parser("reboot", help="real reboot (several VMs at once); waits for each new boot_id")
    p_reboot.add_argument("names", nargs="+")
    p_reboot.add_argument("--method", choices=("guest", "cold"), default=os.environ.get("NODEPREP_VM_REBOOT", "guest"))
    p_copy = sub.add_parser("copy-in", help="copy a host directory into NAME (tar over ssh)")
    p_copy.add_argument("name")
    p_copy.add_argument("src")
    p_copy.add_argument("dest")
    p_info = sub.add_parser("info", help="print the VM record as JSON")
    p_info.add_argument("name")
    p_console = sub.add_parser("console", help="print the tail of NAME's console log")
    p_console.add_argument("name")
    p_console.add_argument("--lines", type=int, default=40)
    sub.add_parser("list", help="list VMs with their state")
    p_clean = sub.add_parser("cleanup", help="force-stop leftover VMs (owner process gone), by pid file")
    p_clean.add_argument("--all", action="store_true", help="stop every VM of this cache dir, owned or not")
    p_clean.add_argument("--owner", type=int, help="stop the VMs owned by this pid")
    args = parser.parse_args(argv)

    if args.cmd == "up":
        if args.replace:
            qemu.down(args.name, force=True, quiet=True)
        vm = qemu.up(args.name, args.image, restore=False if args.cold else None)
        if args.json:
            print(json.dumps(vm, sort_keys=True))
        if args.molecule_instance:
            print(json.dumps({
                "instance": args.molecule_instance, "address": "127.0.0.1", "user": "root",
                "port": str(vm["port"]), "identity_file": vm["key"], "vm_name": vm["name"],
                "image": vm["image"], "restored": vm["restored"],
            }, sort_keys=True))
    elif args.cmd == "down":
        for name in args.names:
            qemu.down(name, force=args.force)
    elif args.cmd == "ssh":
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        vm = qemu.load(args.name)
        os.execvp("ssh", [*qemu.ssh_base(vm), *command])
    elif args.cmd == "reboot":
        qemu.reboot_all(args.names, args.method)
    elif args.cmd == "copy-in":
        qemu.copy_in(qemu.load(args.name), Path(args.src), args.dest)
    elif args.cmd == "info":
        vm = qemu.load(args.name)
        vm["running"] = qemu.is_running(vm)
        print(json.dumps(vm, indent=2, sort_keys=True))
    elif args.cmd == "console":
        print(qemu.console_tail(args.name, args.lines))
    elif args.cmd == "list":
        for vm in qemu.list_vms():
            owner = (vm.get("owner") or {}).get("pid")
            print(f"{vm['name']}\t{vm['image']}\tport={vm['port']}\t{'running' if vm['running'] else 'stopped'}"
                  f"\towner={owner}{'' if qemu.owner_alive(vm) else ' (gone)'}")
    elif args.cmd == "cleanup":
        if args.owner:
            names = qemu.cleanup_owned_by(args.owner)
        else:
            names = qemu.cleanup(everything=args.all)
        log(f"cleanup: {len(names)} VM(s) stopped{': ' if names else ''}{' '.join(names)}")
    return 0


def build_image(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="build-image", description="Build (or reuse) cached VM images by content key.")
    parser.add_argument("names", nargs="*", help=f"images to ensure (default: trixie bookworm); "
                                                 f"known: {', '.join(sorted(images.IMAGES))}")
    parser.add_argument("--state", action="store_true", help="also make the saved running state")
    parser.add_argument("--print-dir", action="store_true", help="print each image directory")
    parser.add_argument("--prune", action="store_true", help="delete cached images whose key is not current")
    args = parser.parse_args(argv)
    for name in args.names or ["trixie", "bookworm"]:
        started = time.monotonic()
        path = images.ensure_image(name)
        if args.state:
            qemu.ensure_state(name)
        log(f"{name}: ready in {time.monotonic() - started:.1f}s ({path.name})")
        if args.print_dir:
            print(path)
    if args.prune:
        for removed in images.prune():
            log(f"pruned {removed}")
    return 0


def main(entry: str) -> int:
    try:
        if entry == "run-vm-tier":
            from . import tier  # pylint: disable=import-outside-toplevel
            return tier.main(sys.argv[1:])
        if entry == "make-apt-repo":
            from . import aptrepo  # pylint: disable=import-outside-toplevel
            return aptrepo.main(sys.argv[1:])
        if entry == "make-rpm-repo":
            from . import rpmrepo  # pylint: disable=import-outside-toplevel
            return rpmrepo.main(sys.argv[1:])
        if entry == "capture-state":
            from . import capture  # pylint: disable=import-outside-toplevel
            return capture.main(sys.argv[1:])
        if entry not in ("vmctl", "build-image"):
            print("usage: python3 -m nodeprep_vm vmctl|build-image|run-vm-tier|make-apt-repo|make-rpm-repo|capture-state ARGS...",
                  file=sys.stderr)
            return 2
        return {"vmctl": vmctl, "build-image": build_image}[entry](sys.argv[1:])
    except VMError as exc:
        print(f"{entry}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
