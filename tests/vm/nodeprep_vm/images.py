"""Debian VM images: bootstrap, bake in the test-bed settings, cache by content key.

Every image is a directory ``<cache>/images/<name>-<key>/`` holding ``disk.qcow2``,
``vmlinuz``, ``initrd.img`` and ``meta.json``. The key hashes everything that
shapes the image (the spec below, this file, the SSH public key, the parent's
key), so a changed spec builds a new image and an unchanged one is reused.
Builds happen in a ``.tmp-*`` directory that is renamed into place only when
complete: an interrupted build never leaves something that looks valid.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from .common import VMError, cache_dir, locked, log, run, sha256_text, ssh_key

BUILDER_VERSION = "1"
MIRROR = os.environ.get("NODEPREP_VM_MIRROR", "http://deb.debian.org/debian")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
DISK_SIZE = "8G"

# What every base image holds: a bootable systemd system with what ansible,
# testinfra and the roles touch (kmod, iproute2, iptables, procps, python3-apt).
BASE_PACKAGES = (
    "systemd", "systemd-sysv", "udev", "dbus", "openssh-server", "python3",
    "python3-apt", "kmod", "iproute2", "iptables", "procps", "netbase",
    "linux-image-amd64",
)

# name -> spec. A base is bootstrapped from Debian's archive; a layer installs
# packages (downloaded on the host, resolved against the parent's dpkg status)
# inside a booted VM of its parent and keeps the resulting qcow2 overlay.
IMAGES = {
    "trixie": {"kind": "base", "suite": "trixie", "packages": BASE_PACKAGES},
    "bookworm": {"kind": "base", "suite": "bookworm", "packages": BASE_PACKAGES},
    "trixie-docker26": {
        "kind": "layer", "parent": "trixie", "suite": "trixie",
        # docker.io only Recommends docker-cli, which holds the `docker` command.
        "packages": ("docker.io", "docker-cli"),
        "expect": {"docker.io": "26.1.5"},
    },
    "trixie-docker28": {
        "kind": "layer", "parent": "trixie", "suite": "sid",
        "packages": ("docker.io", "docker-cli"),
        "expect": {"docker.io": "28.5.2"},
    },
    # Real dnf 4 and rpm from Debian (package_pin's dnf path): dnf 4.23, its python3 bindings (Ansible's dnf
    # module imports them) and dnf-plugins-core, which holds the versionlock plugin.
    "trixie-dnf": {
        "kind": "layer", "parent": "trixie", "suite": "trixie",
        "packages": ("dnf", "python3-dnf", "dnf-plugins-core", "rpm"),
        "expect": {"dnf": "4.23", "dnf-plugins-core": "4."},
    },
    # Real dnf5 and rpm from Debian sid (package_pin's dnf5 path; trixie has no dnf5), on trixie as trixie-docker28
    # is: versionlock is built into dnf5 itself, and python3-libdnf5 (for ansible.builtin.dnf5) is built for sid's
    # python3 3.14, which it brings along, so the guest's python3 is the one the bindings were built for. Not a sid
    # base: mmdebstrap runs apt with --error-on=any, and sid's InRelease on the mirror is past its Valid-Until for
    # this machine's clock ("is expired (invalid since 22d 6h)", measured 2026-11-28); a layer's apt-get update
    # only warns. Allowing it in _build_base would change every base image's key.
    "trixie-dnf5": {
        "kind": "layer", "parent": "trixie", "suite": "sid",
        "packages": ("dnf5", "python3-libdnf5", "rpm"),
        "expect": {"dnf5": "5.4", "python3-libdnf5": "5.4"},
    },
}

# tsc=reliable: under TCG the TSC comes from the host clock and is consistent across vCPUs, but on a
# loaded host the clocksource watchdog declares it unstable and switches to the HPET, whose every read
# is an emulated MMIO access (measured: "clocksource: Switched to clocksource hpet" under load).
# reboot=pci: the q35 reset through port 0xcf9. With the default (acpi), every guest reboot sat 40-42 s
# between "reboot: Restarting system" and the next "Linux version" line under TCG; with pci, 1-2 s.
KERNEL_CMDLINE = "root=/dev/vda rw rootfstype=ext4 console=ttyS0,115200 panic=-1 tsc=reliable reboot=pci"

# Files baked into every base image (path -> content).
NETWORKD_NIC = """\
# nodeprep VM test bed: QEMU user-mode networking, static.
# Matched by name, not Type=ether: that would also grab Docker's veths.
[Match]
Name=en* eth0

[Network]
Address=10.0.2.15/24
Gateway=10.0.2.2
DNS=10.0.2.3
LinkLocalAddressing=no
IPv6AcceptRA=no
"""
NETWORKD_UNMANAGED = """\
# Container and bridge links belong to Docker or to the tests, not to networkd.
[Match]
Name=veth* docker0 br-*

[Link]
Unmanaged=yes
"""
SSHD_CONF = """\
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
"""
# Every python3 of the guest loads it (a .pth in dist-packages): AnsiballZ payloads are compiled once per
# source, not once per task (see the module's docstring for what it saves).
ZIPIMPORT_CACHE = (Path(__file__).parent / "guest" / "nodeprep_zipimport_cache.py").read_text(encoding="utf-8")
BAKED_FILES = {
    "usr/lib/python3/dist-packages/nodeprep_zipimport_cache.py": ZIPIMPORT_CACHE,
    "usr/lib/python3/dist-packages/nodeprep-zipimport-cache.pth": "import nodeprep_zipimport_cache\n",
    "etc/systemd/network/05-nodeprep-unmanaged.network": NETWORKD_UNMANAGED,
    "etc/systemd/network/10-nodeprep-nic.network": NETWORKD_NIC,
    "etc/ssh/sshd_config.d/nodeprep.conf": SSHD_CONF,
    "etc/resolv.conf": "nameserver 10.0.2.3\n",
    "etc/hostname": "nodeprep-vm\n",
    "etc/hosts": "127.0.0.1 localhost\n127.0.1.1 nodeprep-vm\n",
    "etc/fstab": "/dev/vda / ext4 rw,errors=remount-ro 0 1\n",
    # The image has no network beyond the host: never wait for a DHCP that is not there.
    "etc/systemd/system/systemd-networkd-wait-online.service.d/nodeprep.conf":
        "[Service]\nExecStart=\nExecStart=/usr/lib/systemd/systemd-networkd-wait-online --any --timeout=30\n",
}
ENABLE_UNITS = ("systemd-networkd.service", "ssh.service")
# Anything that could hold the dpkg lock or churn the disk while tests run.
MASK_UNITS = (
    "apt-daily.timer", "apt-daily-upgrade.timer", "apt-daily.service",
    "apt-daily-upgrade.service", "dpkg-db-backup.timer", "dpkg-db-backup.service",
    "fstrim.timer", "e2scrub_all.timer", "e2scrub_reap.service",
    "man-db.timer", "unattended-upgrades.service", "packagekit.service",
)


def image_key(name: str) -> str:
    """Content key: the spec, the recipe (a base's baked files, units, kernel command line), the
    source of the functions that build this kind of image, the SSH public key and a layer's parent
    key. Other edits (docs, the driver, the other kind's builder) do not rebuild images."""
    spec = spec_of(name)
    if spec["kind"] == "layer":
        # A layer follows its parent and its own build code; editing it does not rebuild the bases.
        parent = image_key(spec["parent"])
        recipe = MIRROR
        builders = (_build_layer, download_debs, apt_options)
    else:
        parent = ""
        recipe = json.dumps({"baked": BAKED_FILES, "enable": ENABLE_UNITS, "mask": MASK_UNITS,
                             "cmdline": KERNEL_CMDLINE, "disk": DISK_SIZE, "mirror": MIRROR}, sort_keys=True)
        builders = (_build_base, _bake, _copy_boot_files)
    source = "".join(_builder_source(fn) for fn in builders)
    pub = ssh_key().with_suffix(".pub").read_text(encoding="utf-8")
    return sha256_text(BUILDER_VERSION, json.dumps(spec, sort_keys=True), recipe, source, parent, pub)[:16]


def _builder_source(fn) -> str:
    """The function's source as it was when this module was imported. inspect.getsource reads the file
    again at call time, by the line numbers of the loaded code: a long build whose images.py was edited
    meanwhile (a new IMAGES entry shifts every line) got garbage and built its next image under a
    wrong key (seen: bookworm built twice in one run)."""
    return _SOURCE_AT_IMPORT[fn.__name__]


def spec_of(name: str) -> dict:
    if name not in IMAGES:
        raise VMError(f"unknown image {name!r}; known: {', '.join(sorted(IMAGES))}")
    return IMAGES[name]


def images_dir() -> Path:
    path = cache_dir() / "images"
    path.mkdir(exist_ok=True)
    return path


def image_dir(name: str) -> Path:
    return images_dir() / f"{name}-{image_key(name)}"


def image_meta(name: str) -> dict:
    return json.loads((image_dir(name) / "meta.json").read_text(encoding="utf-8"))


def ensure_image(name: str) -> Path:
    """Return the cached image directory, building it (and its parents) if the key changed."""
    spec = spec_of(name)
    if spec["kind"] == "layer":
        ensure_image(spec["parent"])
    final = image_dir(name)
    if (final / "meta.json").exists():
        return final
    with locked(f"image-{name}"):
        if (final / "meta.json").exists():
            return final
        _remove_stale_tmp(name)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=images_dir()))
        tmp.chmod(0o755)
        started = time.monotonic()
        try:
            if spec["kind"] == "base":
                meta = _build_base(name, spec, tmp)
            else:
                meta = _build_layer(name, spec, tmp)
            meta.update(name=name, key=image_key(name), spec=spec,
                        build_seconds=round(time.monotonic() - started, 1),
                        built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    log(f"image {name} built in {meta['build_seconds']}s -> {final}")
    return final


def _remove_stale_tmp(name: str) -> None:
    """Leftovers of an interrupted build of this image (we hold its lock, so none is live)."""
    for stale in images_dir().glob(f".tmp-{name}-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _build_base(name: str, spec: dict, tmp: Path) -> dict:
    root = tmp / "root"
    log(f"image {name}: mmdebstrap {spec['suite']} ...")
    started = time.monotonic()
    run([
        "mmdebstrap", "--quiet", "--variant=apt", "--mode=root", "--format=directory",
        "--components=main", f"--keyring={KEYRING}",
        "--include=" + ",".join(spec["packages"]),
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
        spec["suite"], root, MIRROR,
    ], capture=True)
    bootstrap_s = time.monotonic() - started
    _bake(root)
    kernel = _copy_boot_files(root, tmp)
    versions = _dpkg_versions(root / "var/lib/dpkg/status", ("linux-image-amd64", "systemd", "python3", "iptables", "kmod"))
    started = time.monotonic()
    raw = tmp / "disk.raw"
    run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "nodeprep-root", "-d", root, raw, DISK_SIZE], capture=True)
    run(["qemu-img", "convert", "-O", "qcow2", raw, tmp / "disk.qcow2"], capture=True)
    raw.unlink()
    shutil.rmtree(root)
    return {
        "suite": spec["suite"], "kernel_release": kernel, "cmdline": KERNEL_CMDLINE,
        "versions": versions, "bootstrap_seconds": round(bootstrap_s, 1),
        "disk_seconds": round(time.monotonic() - started, 1),
    }


def _bake(root: Path) -> None:
    """Bake the test-bed settings into a bootstrapped root directory."""
    for rel, content in BAKED_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()
        path.write_text(content, encoding="utf-8")
        path.chmod(0o644)
    # Empty machine-id: every VM generates its own on first boot.
    (root / "etc/machine-id").write_text("", encoding="utf-8")
    dbus_id = root / "var/lib/dbus/machine-id"
    if dbus_id.exists() or dbus_id.is_symlink():
        dbus_id.unlink()
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    auth = ssh_dir / "authorized_keys"
    auth.write_text(ssh_key().with_suffix(".pub").read_text(encoding="utf-8"), encoding="utf-8")
    auth.chmod(0o600)
    run(["systemctl", f"--root={root}", "enable", *ENABLE_UNITS], capture=True)
    run(["systemctl", f"--root={root}", "mask", *MASK_UNITS], capture=True)
    # The VM has no way out (slirp restrict=on): no archive in the apt sources, so `apt-get update`
    # succeeds with whatever local repository a test adds (tests/vm/make-apt-repo).
    (root / "etc/apt/sources.list").write_text(
        "# nodeprep VM test bed: no network. Add a local repository (tests/vm/make-apt-repo).\n", encoding="utf-8")
    for extra in (root / "etc/apt/sources.list.d").glob("*"):
        extra.unlink()
    # Nothing was downloaded for use inside the VM; keep the image small.
    for leftover in (root / "var/cache/apt/archives").glob("*.deb"):
        leftover.unlink()


def _copy_boot_files(root: Path, tmp: Path) -> str:
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    if len(kernels) != 1:
        raise VMError(f"expected exactly one kernel in {root / 'boot'}, found {[k.name for k in kernels]}")
    release = kernels[0].name[len("vmlinuz-"):]
    initrd = root / "boot" / f"initrd.img-{release}"
    if not initrd.exists():
        raise VMError(f"no initrd for kernel {release}")
    shutil.copyfile(kernels[0], tmp / "vmlinuz")
    shutil.copyfile(initrd, tmp / "initrd.img")
    return release


def _dpkg_versions(status: Path, names) -> dict:
    """Installed versions of the given packages from a dpkg status file."""
    wanted = set(names)
    found = {}
    for stanza in status.read_text(encoding="utf-8").split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _sep, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Package") in wanted and fields.get("Status", "").endswith(" installed"):
            found[fields["Package"]] = fields.get("Version")
    return found


def _build_layer(name: str, spec: dict, tmp: Path) -> dict:
    # Imported here: the driver needs ensure_image, and layers need the driver.
    from . import qemu  # pylint: disable=import-outside-toplevel

    parent = ensure_image(spec["parent"])
    debs = tmp / "debs"
    status = tmp / "parent-status"
    vm_name = f"build-{name}"
    qemu.down(vm_name, force=True, quiet=True)
    vm = qemu.up(vm_name, spec["parent"], restore=False, disk_backing=parent / "disk.qcow2",
                 disk_path=tmp / "disk.qcow2")
    try:
        # Resolve against the image's own dpkg status, as a user's apt on that host would.
        status.write_text(qemu.ssh_check(vm, ["cat", "/var/lib/dpkg/status"]), encoding="utf-8")
        started = time.monotonic()
        files = download_debs(spec["suite"], spec["packages"], status, debs)
        download_s = time.monotonic() - started
        started = time.monotonic()
        qemu.copy_in(vm, debs, "/var/tmp/nodeprep-debs")
        qemu.ssh_check(vm, [
            "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q",
            # No --no-download: with it, apt 3.0.3 fails on local .debs ("Internal Error, Pathname to install is
            # not absolute"); the image has no package lists, so apt cannot download anything anyway.
            "--no-install-recommends", *[f"/var/tmp/nodeprep-debs/{f.name}" for f in files],
        ], timeout=900)
        qemu.ssh_check(vm, ["rm", "-rf", "/var/tmp/nodeprep-debs"])
        installed = _dpkg_versions_from_text(
            qemu.ssh_check(vm, ["cat", "/var/lib/dpkg/status"]), spec["packages"])
        install_s = time.monotonic() - started
        for pkg, prefix in spec.get("expect", {}).items():
            if not (installed.get(pkg) or "").startswith(prefix):
                raise VMError(f"layer {name}: expected {pkg} {prefix}*, the archive gave {installed.get(pkg)}")
        qemu.poweroff(vm)
    finally:
        qemu.down(vm_name, force=True, quiet=True)
    shutil.rmtree(debs, ignore_errors=True)
    status.unlink()
    for boot_file in ("vmlinuz", "initrd.img"):
        shutil.copyfile(parent / boot_file, tmp / boot_file)
    pmeta = json.loads((parent / "meta.json").read_text(encoding="utf-8"))
    return {
        "suite": pmeta["suite"], "kernel_release": pmeta["kernel_release"], "cmdline": pmeta["cmdline"],
        "parent": spec["parent"], "parent_dir": str(parent), "versions": {**pmeta["versions"], **installed},
        "deb_count": len(files), "download_seconds": round(download_s, 1), "install_seconds": round(install_s, 1),
    }


def _dpkg_versions_from_text(text: str, names) -> dict:
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".status") as handle:
        handle.write(text)
        handle.flush()
        return _dpkg_versions(Path(handle.name), names)


def apt_options(workdir: Path, status: Path) -> list:
    """apt-get options for a private apt that resolves against another system's dpkg status."""
    return [
        "-o", f"Dir::State::status={status}",
        "-o", f"Dir::State={workdir / 'state'}",
        "-o", f"Dir::State::Lists={workdir / 'lists'}",
        "-o", f"Dir::Cache={workdir / 'cache'}",
        "-o", f"Dir::Etc::SourceList={workdir / 'sources.list'}",
        "-o", "Dir::Etc::SourceParts=-",
        "-o", f"Dir::Etc::Preferences={workdir / 'preferences'}",
        "-o", "Dir::Etc::PreferencesParts=-",
        "-o", "APT::Architecture=amd64",
        "-o", "APT::Architectures::=amd64",
        "-o", "APT::Install-Recommends=false",
        "-o", "Debug::NoLocking=true",
        "-o", "APT::Sandbox::User=root",  # _apt cannot write into our private 0700 dirs
        "-o", "Acquire::Languages=none",
    ]


def download_debs(suite: str, packages, status: Path, dest: Path) -> list:
    """Download the .debs that installing ``packages`` from ``suite`` needs on a system with ``status``."""
    with tempfile.TemporaryDirectory(prefix="nodeprep-apt-") as work_s:
        work = Path(work_s)
        for sub in ("state/lists/partial", "lists/partial", "cache/archives/partial"):
            (work / sub).mkdir(parents=True)
        (work / "sources.list").write_text(f"deb [signed-by={KEYRING}] {MIRROR} {suite} main\n", encoding="utf-8")
        (work / "preferences").write_text("", encoding="utf-8")
        opts = apt_options(work, status)
        run(["apt-get", *opts, "-qq", "update"], capture=True, timeout=600)
        run(["apt-get", *opts, "-qq", "-y", "--download-only", "install", *packages], capture=True, timeout=900)
        dest.mkdir(parents=True, exist_ok=True)
        files = []
        for deb in sorted((work / "cache/archives").glob("*.deb")):
            target = dest / deb.name
            shutil.move(str(deb), target)
            files.append(target)
    if not files:
        raise VMError(f"apt downloaded nothing for {packages} from {suite}: already installed?")
    log(f"downloaded {len(files)} .debs for {' '.join(packages)} from {suite}")
    return files


def prune() -> list:
    """Delete cached images whose key is no longer current and that no VM record uses; return them."""
    current = {f"{name}-{image_key(name)}" for name in IMAGES}
    for record in (cache_dir() / "vms").glob("*/vm.json"):
        current.add(Path(json.loads(record.read_text(encoding="utf-8"))["image_dir"]).name)
    removed = []
    for path in images_dir().iterdir():
        if path.is_dir() and not path.name.startswith(".tmp-") and path.name not in current:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


# Last, once every builder is defined (see _builder_source).
_SOURCE_AT_IMPORT = {fn.__name__: inspect.getsource(fn)
                     for fn in (_build_base, _bake, _copy_boot_files, _build_layer, download_debs, apt_options)}
