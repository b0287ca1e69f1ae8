"""Host-side pieces of the VM test bed, exercised for real: apt, dpkg-deb, ssh-keygen, the filesystem."""

import base64
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nodeprep_vm import aptrepo, capture, images, qemu, tier
from nodeprep_vm.common import VMError


def _apt(repo: Path, work: Path, prefs: str = "") -> list:
    """apt-get/apt-cache options for a private apt that sees only ``repo``."""
    for sub in ("lists/partial", "cache/archives/partial", "state", "parts", "prefs"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    (work / "status").write_text("", encoding="utf-8")
    sources = (repo / "nodeprep-repo.sources").read_text(encoding="utf-8")
    (work / "parts" / "repo.sources").write_text(sources, encoding="utf-8")
    (work / "prefs" / "pin.pref").write_text(prefs, encoding="utf-8")
    return ["-o", "APT::Sandbox::User=root", "-o", f"Dir::State::status={work / 'status'}",
            "-o", f"Dir::State={work / 'state'}", "-o", f"Dir::State::Lists={work / 'lists'}",
            "-o", f"Dir::Cache={work / 'cache'}", "-o", "Dir::Etc::SourceList=/dev/null",
            "-o", f"Dir::Etc::SourceParts={work / 'parts'}", "-o", "Dir::Etc::Preferences=/dev/null",
            "-o", f"Dir::Etc::PreferencesParts={work / 'prefs'}", "-o", "Debug::NoLocking=1"]


def _candidate(repo: Path, work: Path, prefs: str = "") -> str:
    opts = _apt(repo, work, prefs)
    subprocess.run(["apt-get", *opts, "-qq", "update"], check=True, capture_output=True)
    out = subprocess.run(["apt-cache", *opts, "policy", "docker-ce"], check=True, capture_output=True,
                         text=True).stdout
    return next(line.split(":", 1)[1].strip() for line in out.splitlines() if "Candidate:" in line)


def test_docker_ce_repo_offers_the_newest_version_unpinned(tmp_path):
    repo = tmp_path / "repo"
    aptrepo.make_repo(repo, aptrepo.DOCKER_CE["packages"], depends=aptrepo.DOCKER_CE["depends"],
                      mount_path=str(repo))
    assert _candidate(repo, tmp_path / "apt") == "5:28.0.1-1~debian.13~trixie"


def test_docker_ce_repo_honours_a_version_pin_and_its_origin(tmp_path):
    repo = tmp_path / "repo"
    aptrepo.make_repo(repo, aptrepo.DOCKER_CE["packages"], depends=aptrepo.DOCKER_CE["depends"],
                      mount_path=str(repo))
    prefs = "Package: docker-ce\nPin: version 5:27.5.1-*\nPin-Priority: 1001\n"
    assert _candidate(repo, tmp_path / "apt", prefs) == "5:27.5.1-1~debian.13~trixie"
    forbid = "Package: *\nPin: release o=Docker\nPin-Priority: -1\n"
    assert _candidate(repo, tmp_path / "apt2", forbid) == "(none)"


def test_docker_ce_depends_on_the_same_cli_version(tmp_path):
    repo = tmp_path / "repo"
    aptrepo.make_repo(repo, aptrepo.DOCKER_CE["packages"], depends=aptrepo.DOCKER_CE["depends"])
    deb = repo / "pool" / "stable" / "docker-ce_27.3.1-1~debian.13~trixie_amd64.deb"
    control = subprocess.run(["dpkg-deb", "-f", str(deb)], check=True, capture_output=True, text=True).stdout
    assert "Version: 5:27.3.1-1~debian.13~trixie" in control
    assert "Depends: docker-ce-cli (= 5:27.3.1-1~debian.13~trixie), containerd.io (>= 1.7)" in control
    files = subprocess.run(["dpkg-deb", "-c", str(deb)], check=True, capture_output=True, text=True).stdout
    assert "./usr/share/nodeprep-fake/docker-ce.version" in files
    assert "/usr/bin/" not in files


def test_bad_version_is_refused_and_leaves_no_repo(tmp_path):
    with pytest.raises(VMError, match="bad Debian version"):
        aptrepo.make_repo(tmp_path / "repo", [("docker-ce", "27.3.1 bad")])
    assert list(tmp_path.iterdir()) == []


def test_image_key_is_stable_and_follows_the_spec(cache, monkeypatch):
    first = images.image_key("trixie")
    assert images.image_key("trixie") == first
    layer = images.image_key("trixie-docker28")
    changed = dict(images.IMAGES["trixie"], packages=images.BASE_PACKAGES + ("curl",))
    monkeypatch.setitem(images.IMAGES, "trixie", changed)
    assert images.image_key("trixie") != first
    # A layer's key follows its parent's.
    assert images.image_key("trixie-docker28") != layer


def test_unknown_image_is_a_clear_error(cache):
    with pytest.raises(VMError, match="unknown image 'sid'"):
        images.image_key("sid")


def test_dpkg_status_versions_count_installed_packages_only(tmp_path):
    status = tmp_path / "status"
    status.write_text(
        "Package: docker.io\nStatus: install ok installed\nVersion: 26.1.5+dfsg1-9+b9\n\n"
        "Package: docker-cli\nStatus: deinstall ok config-files\nVersion: 26.1.5+dfsg1-9+b9\n\n"
        "Package: kmod\nStatus: install ok installed\nVersion: 34.2-2\n", encoding="utf-8")
    assert images._dpkg_versions(status, ["docker.io", "docker-cli"]) == {"docker.io": "26.1.5+dfsg1-9+b9"}


def test_cleanup_stops_only_vms_whose_owner_is_gone(cache):
    vms = cache / "vms"
    gone = subprocess.Popen(["sleep", "60"])
    owners = {"mine": (os.getpid(), qemu._proc_start_time(os.getpid())),
              "leftover": (gone.pid, qemu._proc_start_time(gone.pid))}
    gone.kill()
    gone.wait()
    for name, (pid, start) in owners.items():
        (vms / name).mkdir(parents=True)
        record = {"name": name, "image": "trixie", "dir": str(vms / name), "disk": str(vms / name / "disk.qcow2"),
                  "pid": None, "owner": {"pid": pid, "start": start}}
        (vms / name / "vm.json").write_text(json.dumps(record), encoding="utf-8")
        (vms / name / "console.log").write_text(f"console of {name}\n", encoding="utf-8")
    assert qemu.cleanup() == ["leftover"]
    assert sorted(p.name for p in vms.iterdir()) == ["mine"]
    # The console of a VM that went down is kept for a failure report.
    assert (cache / "logs" / "leftover.console.log").read_text(encoding="utf-8") == "console of leftover\n"
    assert qemu.cleanup_owned_by(os.getpid()) == ["mine"]


def test_a_pid_that_is_not_our_qemu_is_never_taken_for_the_vm(cache):
    # Our own pid is alive, but it is not QEMU running this VM's disk: never killed as the VM.
    record = {"name": "x", "disk": "/nonexistent/disk.qcow2", "pid": os.getpid(),
              "pid_start": qemu._proc_start_time(os.getpid())}
    assert qemu.is_running(record) is False


def test_molecule_step_lines_are_parsed_with_and_without_colour():
    plain = tier.STEP.search("ERROR    [facts_boot > verify] Executed: Failed")
    assert (plain["scenario"], plain["step"], plain["result"]) == ("facts_boot", "verify", "Failed")
    colour = tier.STEP.search("INFO     facts_boot ➜ create: Executing")
    assert (colour["scenario"], colour["step"], colour["what"]) == ("facts_boot", "create", "Executing")


def test_every_scenario_names_known_images():
    for name in tier.scenario_names():
        assert set(tier.scenario_images(name)) <= set(images.IMAGES), name


def test_capture_tree_keeps_symlinks_as_files_and_empty_dirs(tmp_path):
    data = {"release": "6.12.107+deb13-amd64", "entries": {
        "/proc/sys/net/bridge": {"type": "dir"},
        "/proc/self/ns/pid": {"type": "symlink", "target": "pid:[4026531836]"},
        "/proc/modules": {"type": "file", "b64": base64.b64encode(b"bridge 1 0 - Live 0x0\n").decode()},
        "/proc/1/environ": {"type": "unreadable", "error": "denied"},
    }}
    assert capture.write_tree(data, tmp_path) == 2
    assert (tmp_path / "proc/self/ns/pid.symlink").read_text(encoding="utf-8") == "pid:[4026531836]"
    assert (tmp_path / "proc/modules").read_bytes() == b"bridge 1 0 - Live 0x0\n"
    assert (tmp_path / "proc/sys/net/bridge/.gitkeep").exists()
    assert not (tmp_path / "proc/1/environ").exists()


ZIP_IMPORT_PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
import nodeprep_zipimport_cache as cache
cache.CACHE_DIR = sys.argv[2]
if sys.argv[4] == "no-compile":
    def refuse(pathname, source):
        raise AssertionError("compiled although the cache holds this source")
    cache._compile_source = refuse
sys.path.insert(0, sys.argv[3])
import payload
print(payload.VALUE, payload.where.__code__.co_filename)
"""


def _payload_zip(path, value):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("payload.py", f"VALUE = {value!r}\n\ndef where():\n    return VALUE\n")
    return path


def _import_from_zip(tmp_path, archive, mode="compile"):
    guest = Path(__file__).resolve().parents[1] / "nodeprep_vm" / "guest"
    out = subprocess.run([sys.executable, "-c", ZIP_IMPORT_PROBE, str(guest), str(tmp_path / "pyc"), str(archive), mode],
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_zipimport_cache_reuses_code_for_the_same_source_with_this_run_s_file_name(tmp_path):
    first = _import_from_zip(tmp_path, _payload_zip(tmp_path / "a.zip", "one"))
    assert first == ["one", str(tmp_path / "a.zip" / "payload.py")]
    assert len(list((tmp_path / "pyc").iterdir())) == 1
    # A new zip (a new AnsiballZ temp dir) with the same source: served from the cache, never compiled.
    second = _import_from_zip(tmp_path, _payload_zip(tmp_path / "b.zip", "one"), mode="no-compile")
    assert second == ["one", str(tmp_path / "b.zip" / "payload.py")]


def test_zipimport_cache_never_serves_stale_or_corrupt_code(tmp_path):
    _import_from_zip(tmp_path, _payload_zip(tmp_path / "a.zip", "one"))
    assert _import_from_zip(tmp_path, _payload_zip(tmp_path / "b.zip", "two"))[0] == "two"
    for entry in (tmp_path / "pyc").iterdir():
        entry.write_bytes(b"\x00not marshal data")
    assert _import_from_zip(tmp_path, _payload_zip(tmp_path / "c.zip", "one"))[0] == "one"


def test_phase_table_has_a_column_per_step_run_and_marks_failures():
    results = [
        {"name": "facts_boot", "ok": True, "seconds": 120.4,
         "steps": [("destroy", 1.0, "Successful"), ("create", 6.2, "Successful"), ("verify", 20.0, "Successful"),
                   ("side_effect", 50.0, "Successful"), ("verify", 30.0, "Successful"), ("destroy", 2.0, "Successful")]},
        {"name": "k8s", "ok": False, "seconds": 10.0, "steps": [("prepare", 9.6, "Failed")]},
    ]
    table = tier.phase_table(results, [("trixie", 0.2)], 0.2, 131.0).splitlines()
    header = table[2].split()
    assert header == ["scenario", "result", "total", "destroy", "create", "verify", "side_effect", "verify#2",
                      "destroy#2", "prepare"]
    assert table[4].split() == ["facts_boot", "ok", "120", "1", "6", "20", "50", "30", "2", "-"]
    assert table[5].split() == ["k8s", "FAIL", "10", "-", "-", "-", "-", "-", "-", "10"]
    assert table[1] == "  image trixie: 0"


def test_schedule_runs_untimed_scenarios_first_then_longest_first():
    order = tier.schedule(["a", "b", "c", "d"], {"a": 60.0, "b": 300.0, "d": 120.0})
    assert order == ["c", "b", "d", "a"]


def test_two_one_vm_scenarios_share_the_host_and_a_two_vm_scenario_runs_alone():
    vms = {"big": 2, "one": 1, "two": 1, "late": 1}
    ready = {"big", "one", "two"}

    def pick(pending, running):
        return tier.pick_next(pending, running, 2, ready.__contains__, vms.__getitem__)

    assert pick(["big", "one", "two"], 0) == "big"
    assert pick(["big", "one", "two"], 1) == "one"     # big does not fit next to a running VM; one does
    assert pick(["big", "two"], 2) is None              # the budget is full
    assert pick(["late", "two"], 1) == "two"            # late's image is not ready yet
    assert tier.pick_next(["big"], 0, 1, ready.__contains__, vms.__getitem__) == "big"  # alone it always runs


def test_a_scenario_whose_image_failed_frees_its_vms_for_the_next(cache, tmp_path):
    import threading

    class Prepared:  # both base images failed to build
        errors = {"trixie": "build failed", "bookworm": "build failed"}

        @staticmethod
        def all_ready(_images):
            return True

    results = []
    runner = threading.Thread(target=lambda: results.extend(tier.run_all(
        ["facts_boot", "facts_blacklist"], {}, tmp_path, 2, False, Prepared(), 2)), daemon=True)
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive(), "the second two-VM scenario waited for VMs the first one never started"
    assert sorted((r["name"], r["ok"]) for r in results) == [("facts_blacklist", False), ("facts_boot", False)]
    assert all(r["failed_step"].startswith("images: ") for r in results)


def test_vm_count_is_the_platforms_with_a_vm_image():
    assert tier.scenario_vm_count("facts_boot") == 2          # two platforms on the same image
    assert tier.scenario_vm_count("docker_compat_docker28") == 1
    assert tier.scenario_vm_count("br_netfilter_container") == 0  # podman containers, no VM


def test_durations_file_keeps_only_passing_runs_and_survives_garbage(tmp_path):
    path = tmp_path / "durations.json"
    path.write_text("not json", encoding="utf-8")
    assert tier.load_durations(path) == {}
    tier.save_durations(path, [{"name": "a", "ok": True, "seconds": 12.34}, {"name": "b", "ok": False, "seconds": 1}])
    assert tier.load_durations(path) == {"a": 12.3}
