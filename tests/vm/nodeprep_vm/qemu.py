"""QEMU driver: boot, restore, reboot, reach and stop test VMs.

A VM lives in ``<cache>/vms/<name>/``: its own qcow2 overlay, ``vm.json`` (port,
pid, image), the QMP socket, ``qemu.log`` and the console log. The console log
is also copied to ``<cache>/logs/<name>.console.log`` when the VM goes down, so
a failed run can still show it. VMs are only ever stopped through their own
pid file, after checking that the pid still runs QEMU on this VM's disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from .common import VMError, cache_dir, locked, log, run, sha256_text, ssh_key, wait_until
from .images import ensure_image, image_meta

QEMU = "qemu-system-x86_64"
MEMORY_MB = int(os.environ.get("NODEPREP_VM_MEMORY", "1024"))
SMP = 2
CPU = "qemu64"
BOOT_TIMEOUT = float(os.environ.get("NODEPREP_VM_BOOT_TIMEOUT", "420"))
RESTORE_TIMEOUT = float(os.environ.get("NODEPREP_VM_RESTORE_TIMEOUT", "90"))
SHUTDOWN_TIMEOUT = 120.0
SSH_OPTIONS = (
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "LogLevel=ERROR",
    "-o", "IdentitiesOnly=yes",
    "-o", "ConnectTimeout=15",
    "-o", "ServerAliveInterval=10",
    "-o", "ServerAliveCountMax=6",
)


@contextlib.contextmanager
def boot_slot(what: str):
    """One boot at a time on this host, across every VM tier job and every `vmctl` caller.

    A booting guest keeps both of its vCPUs busy; two scenarios rebooting at once on these 2 cores took
    3-4 times as long each (a two-VM reboot: 444 s instead of about 55 s per VM) and once ran into the
    boot timeout with guest soft lockups. Module work (about one core) overlaps fine with one boot, so
    the tier runs scenarios side by side and queues only their boots here. The VMs of one reboot request
    boot together: within a scenario that was no slower than one after another.
    The wait does not count against the boot timeout, which starts once the slot is ours.
    """
    started = time.monotonic()
    with locked("boot"):
        waited = time.monotonic() - started
        if waited >= 1:
            log(f"{what}: waited {waited:.0f}s for another boot on this host to finish")
        yield


def restore_enabled() -> bool:
    return os.environ.get("NODEPREP_VM_RESTORE", "1") not in ("0", "false", "no")


def vms_dir() -> Path:
    path = cache_dir() / "vms"
    path.mkdir(exist_ok=True)
    return path


def logs_dir() -> Path:
    path = cache_dir() / "logs"
    path.mkdir(exist_ok=True)
    return path


def vm_dir(name: str) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise VMError(f"bad VM name {name!r}")
    return vms_dir() / name


def load(name: str) -> dict:
    path = vm_dir(name) / "vm.json"
    if not path.exists():
        raise VMError(f"no VM named {name!r} (no {path})")
    return json.loads(path.read_text(encoding="utf-8"))


def _save(vm: dict) -> None:
    path = Path(vm["dir"]) / "vm.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(vm, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# --- QEMU command line -------------------------------------------------------

def machine_args(image_path: Path, meta: dict) -> list:
    """Everything a saved state depends on: CPU, memory, devices, kernel. No paths of the VM's own."""
    return [
        "-machine", "q35", "-accel", "tcg,thread=multi", "-cpu", CPU, "-smp", str(SMP), "-m", str(MEMORY_MB),
        "-nodefaults", "-no-user-config", "-display", "none",
        "-kernel", str(image_path / "vmlinuz"), "-initrd", str(image_path / "initrd.img"),
        "-append", meta["cmdline"],
        "-device", "virtio-rng-pci",
        "-device", "virtio-net-pci,netdev=n0,romfile=",
    ]


def qemu_command(vm: dict, *, incoming: str | None = None) -> list:
    vdir = Path(vm["dir"])
    image_path = Path(vm["image_dir"])
    # The image this VM was created from, even if the image's key has moved on since.
    meta = json.loads((image_path / "meta.json").read_text(encoding="utf-8"))
    cmd = [QEMU, "-name", f"nodeprep-{vm['name']}", *machine_args(image_path, meta)]
    cmd += [
        "-drive", f"file={vm['disk']},if=virtio,format=qcow2,cache=unsafe,discard=unmap",
        "-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{vm['port']}-:22",
        "-chardev", f"file,id=con0,path={vdir / 'console.log'},append=on",
        "-serial", "chardev:con0",
        "-qmp", f"unix:{vdir / 'qmp.sock'},server=on,wait=off",
    ]
    if incoming:
        cmd += ["-incoming", incoming]
    return cmd


def qemu_version() -> str:
    return run([QEMU, "--version"], capture=True).stdout.splitlines()[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- process handling --------------------------------------------------------

def _proc_start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def is_running(vm: dict) -> bool:
    """True only if the recorded pid is still the QEMU we started for this disk."""
    pid = vm.get("pid")
    if not pid or _proc_start_time(pid) != vm.get("pid_start"):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0] == "Z":
        return False
    return any(arg.startswith(f"file={vm['disk']},".encode()) for arg in cmdline)


def _owner() -> dict:
    """Which process this VM belongs to: $NODEPREP_VM_OWNER (the tier runner sets it), else the
    nearest molecule ancestor. A VM whose owner is gone is a leftover. A VM started by hand has no
    owner ({}) and is only stopped by `vmctl down` or `vmctl cleanup --all`."""
    pid = int(os.environ.get("NODEPREP_VM_OWNER", "0") or 0)
    if not pid:
        cur = os.getppid()
        while cur > 1:
            try:
                argv = Path(f"/proc/{cur}/cmdline").read_bytes().split(b"\0")
                stat = Path(f"/proc/{cur}/stat").read_text(encoding="utf-8")
            except OSError:
                break
            if any(Path(a.decode(errors="replace")).name == "molecule" for a in argv[:2]):
                pid = cur
                break
            cur = int(stat.rsplit(")", 1)[1].split()[1])
    return {"pid": pid, "start": _proc_start_time(pid)} if pid else {}


def owner_alive(vm: dict) -> bool:
    owner = vm.get("owner") or {}
    if not owner.get("pid"):
        return False
    start = _proc_start_time(owner["pid"])
    return start is not None and start == owner.get("start")


def _reap(pid: int) -> None:
    """Collect our own exited child, if it is ours; harmless otherwise."""
    if not pid:
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _launch(vm: dict, *, incoming: str | None = None) -> None:
    """Start QEMU detached (own session, no inherited pipes) and record its pid."""
    vdir = Path(vm["dir"])
    for attempt in range(5):
        cmd = qemu_command(vm, incoming=incoming)
        with open(vdir / "qemu.log", "a", encoding="utf-8") as qlog:
            qlog.write(f"\n# {time.strftime('%H:%M:%S')} {' '.join(cmd)}\n")
            qlog.flush()
            proc = subprocess.Popen(  # pylint: disable=consider-using-with
                cmd, stdin=subprocess.DEVNULL, stdout=qlog, stderr=qlog, start_new_session=True, close_fds=True)
        vm["pid"] = proc.pid
        vm["pid_start"] = wait_until(lambda: _proc_start_time(proc.pid), timeout=10, interval=0.05,
                                     what="qemu process")
        vm["boot_started"] = time.time()
        _save(vm)
        # QEMU binds the forwarded port and the QMP socket during setup; either the
        # socket appears or QEMU exits with the reason in qemu.log.
        sock = vdir / "qmp.sock"
        deadline = time.monotonic() + 30
        while proc.poll() is None and not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is None:
            return
        tail = _qemu_log_tail(vm)
        if "host forwarding rule" in tail and attempt < 4:
            vm["port"] = free_port()
            continue
        raise VMError(f"qemu for {vm['name']} exited at once ({proc.returncode}):\n{tail}")
    raise VMError("could not find a free port for SSH forwarding")


class QMP:
    """The smallest QMP client that does what the driver needs."""

    def __init__(self, path: Path, timeout: float = 30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def _read(self) -> dict:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise VMError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, command: str, **arguments):
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise VMError(f"QMP {command}: {reply['error'].get('desc')}")
            # else: an asynchronous event; skip it

    def close(self) -> None:
        self.sock.close()


def _guest_running(vm: dict) -> bool:
    if not is_running(vm):
        raise VMError(f"qemu of VM {vm['name']} exited\n{_qemu_log_tail(vm)}")
    try:
        return bool(_qmp(vm, "query-status").get("running"))
    except (OSError, VMError):
        return False


def _qemu_log_tail(vm: dict) -> str:
    path = Path(vm["dir"]) / "qemu.log"
    return path.read_text(encoding="utf-8", errors="replace")[-1500:] if path.exists() else ""


def _qmp(vm: dict, command: str, **arguments):
    client = QMP(Path(vm["dir"]) / "qmp.sock")
    try:
        return client.execute(command, **arguments)
    finally:
        client.close()


# --- SSH ---------------------------------------------------------------------

def ssh_base(vm: dict) -> list:
    return ["ssh", *SSH_OPTIONS, "-i", str(ssh_key()), "-p", str(vm["port"]), "root@127.0.0.1"]


def ssh_run(vm: dict, argv, *, timeout: float = 300, input_text: str | None = None):
    remote = " ".join(shlex.quote(str(a)) for a in argv)
    return run([*ssh_base(vm), remote], check=False, capture=True, timeout=timeout, input_text=input_text)


def ssh_check(vm: dict, argv, *, timeout: float = 300) -> str:
    proc = ssh_run(vm, argv, timeout=timeout)
    if proc.returncode != 0:
        raise VMError(f"in VM {vm['name']}: {' '.join(map(str, argv))} -> {proc.returncode}\n"
                      f"{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    return proc.stdout


def copy_in(vm: dict, src: Path, dest: str) -> None:
    """Copy a host directory into the VM (tar over ssh; no scp/sftp needed)."""
    tar = subprocess.Popen(["tar", "-C", str(src), "-cf", "-", "."], stdout=subprocess.PIPE)
    remote = f"mkdir -p {shlex.quote(dest)} && tar -C {shlex.quote(dest)} -xf -"
    proc = subprocess.run([*ssh_base(vm), remote], stdin=tar.stdout, capture_output=True, text=True,
                          timeout=600, check=False)
    tar.stdout.close()
    if tar.wait() != 0 or proc.returncode != 0:
        raise VMError(f"copy into {vm['name']}:{dest} failed: {proc.stderr[-1000:]}")


def _probe_boot_id(vm: dict) -> str | None:
    try:
        proc = ssh_run(vm, ["cat", "/proc/sys/kernel/random/boot_id"], timeout=45)
    except subprocess.TimeoutExpired:
        return None
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and len(out) == 36 else None


def wait_ssh(vm: dict, *, timeout: float, not_boot_id: str | None = None) -> str:
    """Poll SSH until the guest answers with a boot_id (different from not_boot_id, if given)."""
    def ready():
        if not is_running(vm):
            raise VMError(f"VM {vm['name']} died while booting\n{console_tail(vm['name'])}")
        boot_id = _probe_boot_id(vm)
        if boot_id and boot_id != not_boot_id:
            return boot_id
        return None
    try:
        return wait_until(ready, timeout=timeout, interval=1.0, what=f"SSH on VM {vm['name']} (port {vm['port']})")
    except VMError as exc:
        if "died while booting" in str(exc):
            raise
        raise VMError(f"{exc}\n{console_tail(vm['name'])}") from exc


def wait_system_running(vm: dict, timeout: float = 300) -> str:
    """Wait until systemd finished starting up; report failed units instead of hiding them."""
    proc = ssh_run(vm, ["timeout", str(int(timeout)), "systemctl", "is-system-running", "--wait"],
                   timeout=timeout + 30)
    state = proc.stdout.strip()
    if state not in ("running", "degraded"):
        raise VMError(f"VM {vm['name']}: system state {state!r} after boot\n{console_tail(vm['name'])}")
    if state == "degraded":
        failed = ssh_run(vm, ["systemctl", "--failed", "--no-legend", "--plain"]).stdout.strip()
        log(f"VM {vm['name']}: degraded, failed units: {failed}")
    return state


# --- saved running states ----------------------------------------------------

def state_key(image: str) -> str:
    image_path = ensure_image(image)
    meta = image_meta(image)
    return sha256_text(meta["key"], qemu_version(), json.dumps(machine_args(image_path, meta)))[:16]


def state_dir(image: str) -> Path:
    path = cache_dir() / "states"
    path.mkdir(exist_ok=True)
    return path / f"{image}-{state_key(image)}"


def ensure_state(image: str) -> Path:
    """A saved running state of a fully booted VM of ``image`` (made once per key)."""
    final = state_dir(image)
    if (final / "state.bin").exists():
        return final
    with locked(f"state-{image}"):
        if (final / "state.bin").exists():
            return final
        for stale in final.parent.glob(f".tmp-{image}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = final.parent / f".tmp-{image}-{os.getpid()}"
        tmp.mkdir()
        name = f"state-{image}"
        down(name, force=True, quiet=True)
        started = time.monotonic()
        try:
            vm = up(name, image, restore=False, disk_path=tmp / "disk.qcow2")
            # Settle: nothing left starting, page cache and journal flushed.
            ssh_check(vm, ["sync"])
            _qmp(vm, "migrate", uri=f"exec:cat > {tmp / 'state.bin'}")

            def migrated():
                status = _qmp(vm, "query-migrate").get("status")
                if status == "failed":
                    raise VMError(f"saving the state of {image} failed")
                return status == "completed"
            wait_until(migrated, timeout=300, interval=0.2, what="the state save")
            _qmp(vm, "quit")
            wait_until(lambda: not is_running(vm), timeout=30, interval=0.1, what="qemu to quit")
            _reap(vm["pid"])
            (tmp / "meta.json").write_text(json.dumps({
                "image": image, "image_key": image_meta(image)["key"], "qemu": qemu_version(),
                "seconds": round(time.monotonic() - started, 1)}, indent=2) + "\n", encoding="utf-8")
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            down(name, force=True, quiet=True)
    log(f"saved running state of {image} in {time.monotonic() - started:.1f}s")
    return final


# --- public operations -------------------------------------------------------

def up(name: str, image: str, *, restore: bool | None = None, disk_backing: Path | None = None,
       disk_path: Path | None = None) -> dict:
    """Boot VM ``name`` from a fresh overlay of ``image``; return its record once SSH answers."""
    vdir = vm_dir(name)
    if (vdir / "vm.json").exists():
        old = load(name)
        if is_running(old):
            raise VMError(f"VM {name} is already running (pid {old['pid']}); run `vmctl down {name}` first")
        shutil.rmtree(vdir)
    vdir.mkdir(parents=True)
    image_path = ensure_image(image)
    if restore is None:
        restore = restore_enabled() and disk_backing is None and disk_path is None
    started = time.monotonic()
    state = ensure_state(image) if restore else None
    backing = disk_backing or (state / "disk.qcow2" if state else image_path / "disk.qcow2")
    disk = Path(disk_path or vdir / "disk.qcow2")
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", backing, disk], capture=True)
    vm = {"name": name, "image": image, "image_dir": str(image_path), "dir": str(vdir), "disk": str(disk),
          "port": free_port(), "key": str(ssh_key()), "restored": bool(state), "owner": _owner()}
    (vdir / "console.log").write_text("", encoding="utf-8")
    if state:
        _launch(vm, incoming=f"exec:cat {state / 'state.bin'}")
        try:
            # Probe SSH only once the guest runs: a connection opened while QEMU
            # is still loading the state stalls in slirp until TCP retransmits.
            wait_until(lambda: _guest_running(vm), timeout=RESTORE_TIMEOUT, interval=0.1,
                       what=f"VM {name} to load its saved state")
            vm["boot_id"] = wait_ssh(vm, timeout=RESTORE_TIMEOUT)
        except VMError as exc:
            raise VMError(f"restoring {name} from {state} failed: {exc}") from exc
        # The restored clock is the save time; bring it to now.
        ssh_check(vm, ["date", "-u", "-s", f"@{time.time():.3f}"])
    else:
        with boot_slot(f"cold boot of {name}"):
            _launch(vm)
            vm["boot_id"] = wait_ssh(vm, timeout=BOOT_TIMEOUT)
            wait_system_running(vm)
    vm["up_seconds"] = round(time.monotonic() - started, 1)
    _write_ssh_config(vm)
    _save(vm)
    log(f"VM {name} up ({'restored' if state else 'cold boot'}) in {vm['up_seconds']}s, ssh port {vm['port']}")
    return vm


def _write_ssh_config(vm: dict) -> None:
    """vms/<name>/ssh_config, for `ssh -F ... NAME` or testinfra's --ssh-config."""
    lines = [f"Host {vm['name']}", "  HostName 127.0.0.1", f"  Port {vm['port']}", "  User root",
             f"  IdentityFile {vm['key']}"]
    lines += [f"  {opt.replace('=', ' ', 1)}" for opt in SSH_OPTIONS[1::2]]
    (Path(vm["dir"]) / "ssh_config").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _request(vm: dict, action: str, boot_id: str | None, timeout: float = 300) -> None:
    """Ask the guest to reboot/poweroff until it has accepted (bounded).

    On a starved host one SSH round trip can outlast any fixed timeout, and a request that timed
    out may never have reached systemd. So: probe first; while the guest answers with its old
    boot_id, send `systemctl ACTION` until it returns 0. A guest that answers with another boot_id
    has already rebooted; one that does not answer is looked at again (never re-triggered blindly,
    which could reboot the next boot a second time).
    """
    deadline = time.monotonic() + timeout
    current = boot_id
    while time.monotonic() < deadline and is_running(vm):
        current = _probe_boot_id(vm)
        if current is None:
            time.sleep(1)
            continue
        if boot_id and current != boot_id:
            return
        try:
            if ssh_run(vm, ["systemctl", action, "--no-block"], timeout=120).returncode == 0:
                return
        except subprocess.TimeoutExpired:
            pass
    if is_running(vm) and current is not None:
        raise VMError(f"VM {vm['name']} did not accept `systemctl {action}` within {timeout:.0f}s")


def poweroff(vm: dict, timeout: float = SHUTDOWN_TIMEOUT) -> bool:
    """Clean poweroff from inside the guest; True when QEMU exited by itself."""
    if not is_running(vm):
        return True
    try:
        _request(vm, "poweroff", vm.get("boot_id"), timeout=timeout)
    except VMError:
        return False
    try:
        wait_until(lambda: not is_running(vm), timeout=timeout, interval=0.2, what=f"VM {vm['name']} to power off")
    except VMError:
        return False
    _reap(vm["pid"])
    return True


def reboot(name: str, method: str = "guest") -> dict:
    """A real reboot from the same disk; waits for a new boot_id and a finished startup.

    guest: ``systemctl reboot`` inside the guest; QEMU stays up and re-runs the direct kernel boot.
    cold:  clean poweroff, then a fresh QEMU on the same overlay.
    """
    vm = load(name)
    if not is_running(vm):
        raise VMError(f"VM {name} is not running")
    old = _probe_boot_id(vm) or vm.get("boot_id")
    started = time.monotonic()
    if method == "guest":
        _request(vm, "reboot", old)
    elif method == "cold":
        if not poweroff(vm):
            raise VMError(f"VM {name} did not power off within {SHUTDOWN_TIMEOUT:.0f}s\n{console_tail(name)}")
        _launch(vm)
    else:
        raise VMError(f"unknown reboot method {method!r}")
    vm["boot_id"] = wait_ssh(vm, timeout=BOOT_TIMEOUT, not_boot_id=old)
    wait_system_running(vm)
    vm["restored"] = False
    _save(vm)
    log(f"VM {name} rebooted ({method}) in {time.monotonic() - started:.1f}s")
    return vm


def reboot_all(names, method: str = "guest") -> None:
    """Reboot several VMs at once (each waits on its own); raise if any failed."""
    errors = {}

    def one(name):
        try:
            reboot(name, method)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            errors[name] = exc

    threads = [threading.Thread(target=one, args=(name,)) for name in names]
    with boot_slot(f"reboot of {' '.join(names)}"):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if errors:
        raise VMError("; ".join(f"{name}: {exc}" for name, exc in errors.items()))


def down(name: str, *, force: bool = False, quiet: bool = False) -> None:
    """Stop a VM through its own pid file (clean poweroff first unless force) and delete its overlay."""
    vdir = vm_dir(name)
    if not (vdir / "vm.json").exists():
        if vdir.exists():
            shutil.rmtree(vdir)
        if not quiet:
            log(f"VM {name}: nothing to stop")
        return
    vm = load(name)
    if is_running(vm) and not force:
        if not poweroff(vm, timeout=60):
            log(f"VM {name}: no clean poweroff within 60s, stopping QEMU")
    if is_running(vm):
        try:
            _qmp(vm, "quit")
            wait_until(lambda: not is_running(vm), timeout=15, interval=0.1, what="qemu to quit")
        except (OSError, VMError):
            pass
    if is_running(vm):
        os.kill(vm["pid"], signal.SIGKILL)
        wait_until(lambda: not is_running(vm), timeout=15, interval=0.1, what="qemu to die")
    _reap(vm["pid"])
    console = vdir / "console.log"
    if console.exists():
        shutil.copyfile(console, logs_dir() / f"{name}.console.log")
    shutil.rmtree(vdir)
    if not quiet:
        log(f"VM {name} down")


def console_tail(name: str, lines: int = 40) -> str:
    for path in (vm_dir(name) / "console.log", logs_dir() / f"{name}.console.log"):
        if path.exists():
            text = path.read_text(encoding="utf-8", errors="replace").splitlines()
            return f"--- last {lines} lines of {path} ---\n" + "\n".join(text[-lines:])
    return f"(no console log for {name})"


def list_vms() -> list:
    out = []
    for path in sorted(vms_dir().glob("*/vm.json")):
        vm = json.loads(path.read_text(encoding="utf-8"))
        vm["running"] = is_running(vm)
        out.append(vm)
    return out


def cleanup(*, everything: bool = False) -> list:
    """Stop leftover VMs (by pid file): those whose owner process is gone, or all with everything=True.

    VMs of a run still in progress (another developer's, on a shared machine) are left alone.
    """
    names = []
    for path in sorted(vms_dir().iterdir()):
        if not path.is_dir():
            continue
        record = path / "vm.json"
        vm = json.loads(record.read_text(encoding="utf-8")) if record.exists() else {}
        if everything or not vm or (vm.get("owner") and not owner_alive(vm)):
            down(path.name, force=True, quiet=True)
            names.append(path.name)
    return names


def cleanup_owned_by(pid: int) -> list:
    """Stop every VM whose recorded owner is ``pid`` (the tier runner's own VMs)."""
    names = [vm["name"] for vm in list_vms() if (vm.get("owner") or {}).get("pid") == pid]
    for name in names:
        down(name, force=True, quiet=True)
    return names
