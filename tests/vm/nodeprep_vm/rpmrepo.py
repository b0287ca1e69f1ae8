"""make-rpm-repo: a local, offline RPM repository of synthetic packages built with rpmbuild.

The dnf counterpart of make-apt-repo, for package_pin's dnf path: Debian's real dnf and rpm
resolve, lock, exclude and install these packages inside a VM. Versions are shaped like the
real ones (Docker CE's rpm repositories use epoch 3 and an ``.elN`` release). Each package
installs only ``/usr/share/nodeprep-fake/<name>.version`` (holding its own EVR), so it never
clashes with real files (rpm's database on Debian is separate from dpkg's anyway).

Usage:
  make-rpm-repo OUTDIR --docker-ce                    # the docker-ce preset (see DOCKER_CE)
  make-rpm-repo OUTDIR --package NAME=[E:]V-R ...     # any packages, e.g. iptables=1.8.10-1.el9
  Options: --requires NAME=REQ ({evr} is replaced by the package's own [E:]V-R), --mount-path
Then, e.g.:
  vmctl copy-in VM OUTDIR /srv/nodeprep-rpm-repo
  vmctl ssh VM -- cp /srv/nodeprep-rpm-repo/nodeprep-rpm.repo /etc/yum.repos.d/
  vmctl ssh VM -- dnf -q makecache
OUTDIR/nodeprep-rpm.repo points at file:///srv/nodeprep-rpm-repo by default (--mount-path).
Needs rpmbuild (Debian package rpm) and createrepo_c (createrepo-c) on the host: install-host-deps.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from .common import VMError, log, run

DOCKER_CE_VERSIONS = (
    "3:27.3.1-1.el9",
    "3:27.5.1-1.el9",
    "3:28.0.0-1.el9",
    "3:28.0.1-1.el9",
    "3:28.1.1-1.el9",
)
# The preset: docker-ce and docker-ce-cli at every version above, docker-ce requiring the
# same EVR of docker-ce-cli (as the real packages do).
DOCKER_CE = {
    "packages": [(name, evr) for evr in DOCKER_CE_VERSIONS for name in ("docker-ce", "docker-ce-cli")],
    "requires": {"docker-ce": "docker-ce-cli = {evr}"},
}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
EVR_RE = re.compile(r"^(?:([0-9]+):)?([0-9][A-Za-z0-9.+~^_]*)-([0-9A-Za-z][A-Za-z0-9.+~^_]*)$")

SPEC = """\
Name: {name}
{epoch_line}Version: {version}
Release: {release}
Summary: synthetic {name} {evr} for nodeprep pinning tests
License: GPL-3.0-or-later
BuildArch: noarch
{requires_line}
%description
Synthetic {name} {evr} for nodeprep.netfilter pinning tests.
Installs only /usr/share/nodeprep-fake/{name}.version.

%install
mkdir -p %{{buildroot}}/usr/share/nodeprep-fake
echo '{evr}' > %{{buildroot}}/usr/share/nodeprep-fake/{name}.version

%files
/usr/share/nodeprep-fake/{name}.version
"""


def parse_evr(evr: str):
    """``(epoch or None, version, release)`` of ``[E:]V-R``; VMError when malformed."""
    match = EVR_RE.match(evr)
    if not match:
        raise VMError(f"bad RPM version {evr!r}: give [EPOCH:]VERSION-RELEASE, e.g. 3:27.5.1-1.el9")
    return match.group(1), match.group(2), match.group(3)


def spec_text(name: str, evr: str, requires: str | None) -> str:
    if not NAME_RE.match(name):
        raise VMError(f"bad package name {name!r}")
    epoch, version, release = parse_evr(evr)
    return SPEC.format(name=name, evr=evr, version=version, release=release,
                       epoch_line=f"Epoch: {epoch}\n" if epoch is not None else "",
                       requires_line=f"Requires: {requires}\n" if requires else "")


def build_rpm(workdir: Path, name: str, evr: str, requires: str | None) -> Path:
    """rpmbuild -bb one synthetic package in a private %_topdir; returns the .rpm."""
    text = spec_text(name, evr, requires)
    top = workdir / f"top-{name}-{evr.replace(':', '_')}"
    for sub in ("SPECS", "RPMS", "BUILD", "BUILDROOT", "SOURCES", "SRPMS"):
        (top / sub).mkdir(parents=True)
    spec = top / "SPECS" / f"{name}.spec"
    spec.write_text(text, encoding="utf-8")
    run(["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}", "--define", "_build_id_links none",
         # Debian's rpm has no dist tag and no brp scripts of Red Hat's; none is needed for a text file.
         "--define", "__os_install_post %{nil}", "--define", "debug_package %{nil}", spec], capture=True)
    built = sorted((top / "RPMS").rglob("*.rpm"))
    if len(built) != 1:
        raise VMError(f"rpmbuild of {name} {evr} made {len(built)} packages: {built}")
    return built[0]


def make_repo(out: Path, packages, *, requires=None, mount_path="/srv/nodeprep-rpm-repo",
              repo_id="nodeprep-rpm") -> dict:
    """Build the repository into ``out`` (replaced atomically); return a summary."""
    requires = requires or {}
    seen = set()
    for name, evr in packages:
        if (name, evr) in seen:
            raise VMError(f"{name}={evr} given twice")
        seen.add((name, evr))
        spec_text(name, evr, None)  # validate everything before building anything
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        (tmp / "Packages").mkdir()
        with tempfile.TemporaryDirectory() as work:
            for name, evr in packages:
                req = requires.get(name)
                rpm = build_rpm(Path(work), name, evr, req.format(evr=evr) if req else None)
                shutil.move(str(rpm), tmp / "Packages" / rpm.name)
        run(["createrepo_c", "--quiet", "--no-database", tmp], capture=True)
        (tmp / f"{repo_id}.repo").write_text(
            "# Local offline repository of synthetic packages (tests/vm/make-rpm-repo); unsigned.\n"
            f"[{repo_id}]\nname=nodeprep synthetic packages\nbaseurl=file://{mount_path}\n"
            "enabled=1\ngpgcheck=0\nrepo_gpgcheck=0\nmetadata_expire=never\n", encoding="utf-8")
        summary = {"repo_id": repo_id, "mount_path": mount_path,
                   "packages": [{"name": n, "evr": v} for n, v in packages]}
        (tmp / "nodeprep-rpm-repo.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"rpm repo {out}: {len(packages)} packages, repo id {repo_id}")
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="make-rpm-repo", description=__doc__.split("\n\n", 1)[0],
                                     epilog=__doc__.split("Usage:", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--docker-ce", action="store_true", help="add the docker-ce preset packages")
    parser.add_argument("--package", action="append", default=[], metavar="NAME=[E:]V-R")
    parser.add_argument("--requires", action="append", default=[], metavar="NAME=REQUIRES",
                        help="Requires: of NAME ({evr} is replaced by the package's own [E:]V-R)")
    parser.add_argument("--mount-path", default="/srv/nodeprep-rpm-repo",
                        help="where the repository will sit inside the VM (written into nodeprep-rpm.repo)")
    args = parser.parse_args(argv)
    packages, requires = [], {}
    if args.docker_ce:
        packages += DOCKER_CE["packages"]
        requires.update(DOCKER_CE["requires"])
    for spec in args.package:
        name, sep, evr = spec.partition("=")
        if not sep:
            raise VMError(f"--package wants NAME=[E:]V-R, got {spec!r}")
        packages.append((name, evr))
    for spec in args.requires:
        name, sep, req = spec.partition("=")
        if not sep:
            raise VMError(f"--requires wants NAME=REQUIRES, got {spec!r}")
        requires[name] = req
    if not packages:
        raise VMError("no packages: give --docker-ce and/or --package NAME=[E:]V-R")
    make_repo(args.outdir, packages, requires=requires, mount_path=args.mount_path)
    return 0
