"""make-rpm-repo for real: rpmbuild, rpm and createrepo_c on the host (tests/vm/install-host-deps installs them)."""

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

from nodeprep_vm import rpmrepo
from nodeprep_vm.common import VMError

pytestmark = pytest.mark.skipif(not (shutil.which("rpmbuild") and shutil.which("createrepo_c")),
                                reason="rpmbuild/createrepo_c missing: run tests/vm/install-host-deps")


def _query(rpm: Path, fmt: str) -> str:
    return subprocess.run(["rpm", "-qp", "--qf", fmt, rpm], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    out = tmp_path_factory.mktemp("rpm") / "repo"
    rpmrepo.make_repo(out, rpmrepo.DOCKER_CE["packages"] + [("iptables", "1.8.10-1.el9")],
                      requires=rpmrepo.DOCKER_CE["requires"])
    return out


def test_every_package_carries_the_requested_evr_and_only_its_version_file(repo):
    found = {}
    for rpm in sorted((repo / "Packages").glob("*.rpm")):
        found[_query(rpm, "%{NAME} %{EPOCH}:%{VERSION}-%{RELEASE}")] = _query(rpm, "[%{FILENAMES}\n]").split()
    assert len(found) == 11
    assert found["docker-ce 3:27.5.1-1.el9"] == ["/usr/share/nodeprep-fake/docker-ce.version"]
    assert found["iptables (none):1.8.10-1.el9"] == ["/usr/share/nodeprep-fake/iptables.version"]
    assert set(rpmrepo.DOCKER_CE_VERSIONS) == {k.split()[1] for k in found if k.startswith("docker-ce-cli ")}


def test_docker_ce_requires_the_cli_of_its_own_evr(repo):
    rpm = next((repo / "Packages").glob("docker-ce-28.0.1-*.rpm"))
    assert "docker-ce-cli = 3:28.0.1-1.el9" in _query(rpm, "[%{REQUIRENEVRS}\n]").splitlines()


def test_createrepo_indexes_every_package_and_the_repo_file_points_at_the_mount(repo):
    primary = next((repo / "repodata").glob("*-primary.xml.gz"))
    text = gzip.decompress(primary.read_bytes()).decode()
    assert 'packages="11"' in text
    assert '<version epoch="3" ver="28.1.1" rel="1.el9"/>' in text
    conf = (repo / "nodeprep-rpm.repo").read_text()
    assert "[nodeprep-rpm]\n" in conf and "baseurl=file:///srv/nodeprep-rpm-repo\n" in conf and "gpgcheck=0\n" in conf


@pytest.mark.parametrize("name,evr", [("docker-ce", "27.3.1"), ("docker-ce", "3:27.3.1-1 el9"), ("bad name", "1-1")])
def test_bad_input_is_refused_before_anything_is_built(tmp_path, name, evr):
    with pytest.raises(VMError):
        rpmrepo.make_repo(tmp_path / "repo", [(name, evr)])
    assert not (tmp_path / "repo").exists()
    assert list(tmp_path.iterdir()) == []
