"""make-apt-repo: a local, offline apt repository of synthetic packages built with dpkg-deb.

For pinning tests: real apt resolves, pins and installs these packages inside a VM,
with versions shaped like the real ones (epochs, revisions, ~ suffixes). The layout
mimics Docker's own repository (dists/<suite>/<component>/binary-<arch>/) and its
Release fields (Origin/Label "Docker"), so preferences such as ``Pin: release o=Docker``
and ``Pin: version 5:27.5.1-*`` behave as they do against download.docker.com.

Each package installs only ``/usr/share/nodeprep-fake/<name>.version`` (holding its own
version), so it never clashes with real files.

Usage:
  make-apt-repo OUTDIR --docker-ce                  # the docker-ce preset (see DOCKER_CE)
  make-apt-repo OUTDIR --package NAME=VERSION ...   # any packages, e.g. foo=1:2.0-1
  Options: --suite trixie --component stable --origin Docker --depends NAME=DEP
Then, e.g.:
  vmctl copy-in VM OUTDIR /srv/nodeprep-repo
  vmctl ssh VM -- cp /srv/nodeprep-repo/nodeprep-repo.sources /etc/apt/sources.list.d/
  vmctl ssh VM -- apt-get update
OUTDIR/nodeprep-repo.sources points at /srv/nodeprep-repo by default (--mount-path).
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
    "5:27.3.1-1~debian.13~trixie",
    "5:27.5.1-1~debian.13~trixie",
    "5:28.0.0-1~debian.13~trixie",
    "5:28.0.1-1~debian.13~trixie",
)
# The preset: docker-ce and docker-ce-cli at every version above; docker-ce depends on the
# same version of docker-ce-cli (as the real packages do) and on containerd.io.
DOCKER_CE = {
    "packages": [(name, version) for version in DOCKER_CE_VERSIONS for name in ("docker-ce", "docker-ce-cli")]
    + [("containerd.io", "1.7.24-1")],
    "depends": {"docker-ce": "docker-ce-cli (= {version}), containerd.io (>= 1.7)"},
}
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
VERSION_RE = re.compile(r"^([0-9]+:)?[0-9][A-Za-z0-9.+~-]*$")


def build_deb(workdir: Path, name: str, version: str, arch: str, depends: str | None) -> Path:
    if not NAME_RE.match(name):
        raise VMError(f"bad package name {name!r}")
    if not VERSION_RE.match(version):
        raise VMError(f"bad Debian version {version!r} for {name}")
    root = workdir / f"{name}_{version.replace(':', '%3a')}"
    (root / "DEBIAN").mkdir(parents=True)
    payload = root / "usr/share/nodeprep-fake"
    payload.mkdir(parents=True)
    (payload / f"{name}.version").write_text(version + "\n", encoding="utf-8")
    control = [
        f"Package: {name}", f"Version: {version}", f"Architecture: {arch}",
        "Maintainer: nodeprep.netfilter tests <nodeprep@invalid>", "Section: misc", "Priority: optional",
    ]
    if depends:
        control.append(f"Depends: {depends}")
    control.append(f"Description: synthetic {name} {version} for nodeprep pinning tests\n"
                   " Installs only /usr/share/nodeprep-fake/" + name + ".version.")
    (root / "DEBIAN/control").write_text("\n".join(control) + "\n", encoding="utf-8")
    deb = workdir / f"{name}_{version.split(':', 1)[-1]}_{arch}.deb"
    run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", root, deb], capture=True)
    return deb


def make_repo(out: Path, packages, *, depends=None, suite="trixie", component="stable",
              origin="Docker", arch="amd64", mount_path="/srv/nodeprep-repo") -> dict:
    """Build the repository into ``out`` (replaced atomically); return a summary."""
    depends = depends or {}
    seen = set()
    for name, version in packages:
        if (name, version) in seen:
            raise VMError(f"{name}={version} given twice")
        seen.add((name, version))
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        pool = tmp / "pool" / component
        pool.mkdir(parents=True)
        with tempfile.TemporaryDirectory() as work:
            for name, version in packages:
                dep = depends.get(name)
                deb = build_deb(Path(work), name, version, arch, dep.format(version=version) if dep else None)
                shutil.move(str(deb), pool / deb.name)
        binary = tmp / "dists" / suite / component / f"binary-{arch}"
        binary.mkdir(parents=True)
        packages_text = run(["apt-ftparchive", "packages", f"pool/{component}"], capture=True, cwd=tmp).stdout
        (binary / "Packages").write_text(packages_text, encoding="utf-8")
        run(["gzip", "-9nk", binary / "Packages"], capture=True)
        release = run([
            "apt-ftparchive",
            "-o", f"APT::FTPArchive::Release::Origin={origin}",
            "-o", f"APT::FTPArchive::Release::Label={origin}",
            "-o", f"APT::FTPArchive::Release::Suite={suite}",
            "-o", f"APT::FTPArchive::Release::Codename={suite}",
            "-o", f"APT::FTPArchive::Release::Architectures={arch}",
            "-o", f"APT::FTPArchive::Release::Components={component}",
            "release", f"dists/{suite}",
        ], capture=True, cwd=tmp).stdout
        (tmp / "dists" / suite / "Release").write_text(release, encoding="utf-8")
        (tmp / "nodeprep-repo.sources").write_text(
            "# Local offline repository of synthetic packages (tests/vm/make-apt-repo); unsigned.\n"
            f"Types: deb\nURIs: file:{mount_path}\nSuites: {suite}\nComponents: {component}\n"
            f"Architectures: {arch}\nTrusted: yes\n", encoding="utf-8")
        summary = {"suite": suite, "component": component, "origin": origin, "mount_path": mount_path,
                   "packages": [{"name": n, "version": v} for n, v in packages]}
        (tmp / "nodeprep-repo.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"apt repo {out}: {len(packages)} packages, suite {suite}, component {component}, origin {origin}")
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="make-apt-repo", description=__doc__.split("\n\n", 1)[0],
                                     epilog=__doc__.split("Usage:", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--docker-ce", action="store_true", help="add the docker-ce preset packages")
    parser.add_argument("--package", action="append", default=[], metavar="NAME=VERSION")
    parser.add_argument("--depends", action="append", default=[], metavar="NAME=DEPENDS",
                        help="Depends: of NAME ({version} is replaced by the package's version)")
    parser.add_argument("--suite", default="trixie")
    parser.add_argument("--component", default="stable")
    parser.add_argument("--origin", default="Docker")
    parser.add_argument("--arch", default="amd64")
    parser.add_argument("--mount-path", default="/srv/nodeprep-repo",
                        help="where the repository will sit inside the VM (written into nodeprep-repo.sources)")
    args = parser.parse_args(argv)
    packages, depends = [], {}
    if args.docker_ce:
        packages += DOCKER_CE["packages"]
        depends.update(DOCKER_CE["depends"])
    for spec in args.package:
        name, sep, version = spec.partition("=")
        if not sep:
            raise VMError(f"--package wants NAME=VERSION, got {spec!r}")
        packages.append((name, version))
    for spec in args.depends:
        name, sep, dep = spec.partition("=")
        if not sep:
            raise VMError(f"--depends wants NAME=DEPENDS, got {spec!r}")
        depends[name] = dep
    if not packages:
        raise VMError("no packages: give --docker-ce and/or --package NAME=VERSION")
    make_repo(args.outdir, packages, depends=depends, suite=args.suite, component=args.component,
              origin=args.origin, arch=args.arch, mount_path=args.mount_path)
    return 0
