"""run-vm-tier: every molecule scenario under extensions/molecule/, one after another.

Installs missing host packages, builds or reuses the images (and saved states) the
scenarios name, runs ``molecule test -s NAME`` per scenario while timing each molecule
step from its own log lines, and on failure prints the failing step, the end of its
output and the tail of each of the scenario's VM console logs. Leftover VMs (whose
owner process is gone) are stopped at the start; the runner's own VMs at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

from . import images, qemu
from .common import VMError, cache_dir, log

REPO = Path(__file__).resolve().parents[3]
SCENARIOS = REPO / "extensions" / "molecule"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# "scenario ➜ step: Executing" (colour) or "[scenario > step] Executing" (NO_COLOR).
STEP = re.compile(r"\[?(?P<scenario>[^\s\[]+) (?:➜|>) (?P<step>[a-z_]+)(?:\]|:) "
                  r"(?P<what>Executing|Executed: (?P<result>\w+))")
IMAGE_LINE = re.compile(r"^\s+image:\s*['\"]?(?P<image>[A-Za-z0-9_.-]+)")


def scenario_names() -> list:
    return sorted(p.parent.name for p in SCENARIOS.glob("*/molecule.yml") if not p.parent.name.startswith("_"))


def scenario_images(name: str) -> list:
    """VM images named by a scenario's platforms (``image:`` lines of its molecule.yml).

    A container image reference (it has a ``/``, e.g. ``localhost/name:tag``) needs no VM: it is skipped.
    """
    text = (SCENARIOS / name / "molecule.yml").read_text(encoding="utf-8")
    named = []
    found = []
    for line in text.splitlines():
        match = IMAGE_LINE.match(line)
        if match:
            named.append(match.group("image"))
            if "/" not in line.split("image:", 1)[1] and match.group("image") not in found:
                found.append(match.group("image"))
    if not named:
        raise VMError(f"scenario {name}: no platform names an image (image: <{'|'.join(sorted(images.IMAGES))}>)")
    return found


def scenario_vm_count(name: str) -> int:
    """VMs a scenario boots: its platforms that name a VM image (a container platform needs none)."""
    text = (SCENARIOS / name / "molecule.yml").read_text(encoding="utf-8")
    return sum(1 for line in text.splitlines()
               if IMAGE_LINE.match(line) and "/" not in line.split("image:", 1)[1])


def pick_next(pending: list, running_vms: int, vm_budget: int, ready, vms_of):
    """The first pending scenario (schedule order) whose images are ready and whose VMs fit next to the
    VMs running now: at most ``vm_budget`` VMs on the host, except that a scenario may always run alone.

    On these 2 cores two TCG VMs at a time is what works (a booting or busy guest keeps a core); with
    more, boots slowed several-fold and a bookworm guest hit soft lockups and the boot timeout. So two
    one-VM scenarios share the host, and a two-VM scenario (which runs its VMs in parallel by itself)
    runs alone."""
    for name in pending:
        if ready(name) and (running_vms == 0 or running_vms + vms_of(name) <= vm_budget):
            return name
    return None


def prepare_environment() -> dict:
    env = dict(os.environ)
    venv_bin = REPO / ".venv" / "bin"
    if venv_bin.is_dir():
        env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    if not shutil.which("molecule", path=env["PATH"]):
        raise VMError("molecule not found: run `make tools` (it installs requirements/tools-py311.txt into .venv)")
    link = REPO / "build" / "collections" / "ansible_collections" / "nodeprep" / "netfilter"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(REPO / "build" / "collections"))
    env["NODEPREP_VM_OWNER"] = str(os.getpid())
    # Unbuffered, so each molecule step is timed when it happens, not when a pipe buffer fills.
    env.update(NO_COLOR="1", PY_COLORS="0", ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", PYTHONUNBUFFERED="1")
    return env


def run_scenario(name: str, env: dict, log_dir: Path) -> dict:
    """molecule test -s NAME, streamed to a log; returns {ok, steps: [(step, seconds, result)], failed_step}."""
    log_path = log_dir / f"{name}.molecule.log"
    cmd = ["molecule", "test", "-s", name]
    started = time.monotonic()
    steps, current, step_start, failed_step = [], None, started, None
    with open(log_path, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, errors="replace")
        for raw in proc.stdout:
            line = ANSI.sub("", raw)
            out.write(line)
            match = STEP.search(line)
            if not match or match.group("scenario") != name:
                continue
            now = time.monotonic()
            if match.group("what") == "Executing":
                current, step_start = match.group("step"), now
            elif current == match.group("step"):
                result = match.group("result")
                steps.append((current, now - step_start, result))
                print(f"  {name}: {current:<12} {now - step_start:6.1f}s {result.lower()}", flush=True)
                if result.lower() == "failed" and failed_step is None:
                    failed_step = current
                current = None
        code = proc.wait()
    if code != 0 and failed_step is None:
        failed_step = current or "(molecule itself; see the log)"
    return {"name": name, "ok": code == 0, "code": code, "steps": steps, "failed_step": failed_step,
            "seconds": time.monotonic() - started, "log": log_path}


def phase_table(results: list, image_times: list, prep_s: float, total_s: float) -> str:
    """The tier's timing table for the CI log: one row per scenario, one column per molecule step.

    A step that runs twice in a scenario (verify before and after the reboot, destroy at both ends)
    gets one column per run (``verify#2``), so a slow reboot-side verify is not hidden in a sum.
    """
    rows, columns = [], []
    for result in results:
        seen, cells = {}, {}
        for step, seconds, _outcome in result["steps"]:
            seen[step] = seen.get(step, 0) + 1
            column = step if seen[step] == 1 else f"{step}#{seen[step]}"
            cells[column] = seconds
            if column not in columns:
                columns.append(column)
        rows.append((result["name"], "ok" if result["ok"] else "FAIL", result["seconds"], cells))
    width = max([len("scenario")] + [len(name) for name, *_rest in rows])
    head = f"{'scenario':<{width}}  result  total  " + "  ".join(f"{c:>{max(len(c), 5)}}" for c in columns)
    lines = [f"VM tier timing (s): images/states {prep_s:.0f} (alongside the first scenarios), total {total_s:.0f}"]
    lines += [f"  image {name}: {seconds:.0f}" for name, seconds in image_times]
    lines += [head, "-" * len(head)]
    for name, outcome, seconds, cells in rows:
        values = "  ".join(f"{cells[c]:>{max(len(c), 5)}.0f}" if c in cells else f"{'-':>{max(len(c), 5)}}"
                           for c in columns)
        lines.append(f"{name:<{width}}  {outcome:<6}  {seconds:5.0f}  {values}")
    return "\n".join(lines)


def load_durations(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))} if isinstance(data, dict) else {}


def save_durations(path: Path, results: list) -> None:
    known = load_durations(path)
    known.update({r["name"]: round(r["seconds"], 1) for r in results if r["ok"]})
    path.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def schedule(names: list, durations: dict) -> list:
    """Longest first (by the last passing run's wall time), so two at a time finish close together.
    Scenarios never timed before go first: they are the ones most likely to be long or to fail."""
    return sorted(names, key=lambda n: (n in durations, -durations.get(n, 0.0), names.index(n)))


class ImagePreparer(threading.Thread):
    """Builds or reuses the images and saved states in the background, one after another (builds take
    a lock anyway), so the first scenarios start as soon as their own images are ready."""

    def __init__(self, needed: list):
        super().__init__(name="images", daemon=True)
        self.needed = needed
        self.ready = {image: threading.Event() for image in needed}
        self.errors, self.times, self.seconds = {}, [], 0.0

    def run(self):
        started_all = time.monotonic()
        for image in self.needed:
            started = time.monotonic()
            try:
                images.ensure_image(image)
                if qemu.restore_enabled():
                    qemu.ensure_state(image)
            except Exception as exc:  # reported per scenario that needs the image
                self.errors[image] = f"{type(exc).__name__}: {exc}"
            self.times.append((image, time.monotonic() - started))
            print(f"image {image}: {'FAILED' if image in self.errors else 'ready'} in {self.times[-1][1]:.1f}s", flush=True)
            self.ready[image].set()
        self.seconds = time.monotonic() - started_all

    def all_ready(self, wanted) -> bool:
        return all(self.ready[image].is_set() for image in wanted)


def run_all(order: list, env: dict, log_dir: Path, jobs: int, fail_fast: bool, prepared: ImagePreparer,
            vm_budget: int) -> list:
    """Run the scenarios, up to ``jobs`` at a time and within ``vm_budget`` VMs (see pick_next), each as
    soon as its images are ready (longest first among those). Each scenario has its own VMs (named after
    it), its own molecule ephemeral directory and log; nothing else is shared but the read-only images
    and saved states. Their boots and reboots queue for one host-wide slot (qemu.boot_slot)."""
    results, lock, pending = [], threading.Lock(), list(order)
    running = {"vms": 0}

    def next_scenario():
        while True:
            with lock:
                if not pending or (fail_fast and any(not r["ok"] for r in results)):
                    return None
                name = pick_next(pending, running["vms"], vm_budget,
                                 lambda n: prepared.all_ready(scenario_images(n)), scenario_vm_count)
                if name is not None:
                    pending.remove(name)
                    running["vms"] += scenario_vm_count(name)
                    return name
            time.sleep(0.5)

    def run_one(name):
        broken = {i: prepared.errors[i] for i in scenario_images(name) if i in prepared.errors}
        if broken:
            result = {"name": name, "ok": False, "code": None, "steps": [], "seconds": 0.0, "log": None,
                      "failed_step": "images: " + "; ".join(f"{i}: {e}" for i, e in broken.items())}
            with lock:
                results.append(result)
                print(f"=== {name} FAILED: its image could not be prepared ({result['failed_step']}) ===", flush=True)
            return
        print(f"scenario {name}: started", flush=True)
        wall = time.time()
        result = run_scenario(name, env, log_dir)
        report = failure_report(result, wall - 1) if not result["ok"] else ""
        with lock:
            results.append(result)
            print(f"  {name}: {'passed' if result['ok'] else 'FAILED'} in {result['seconds']:.1f}s", flush=True)
            if report:
                print(report, flush=True)

    def worker():
        while True:
            name = next_scenario()
            if name is None:
                return
            try:
                run_one(name)
            finally:
                # Whatever happened (an image that failed, an exception), the VMs counted for it are free again:
                # otherwise the other worker would wait for them for ever.
                with lock:
                    running["vms"] -= scenario_vm_count(name)

    threads = [threading.Thread(target=worker, name=f"tier-{i}") for i in range(min(jobs, len(order)) or 1)]
    try:
        for thread in threads:
            thread.start()
    finally:
        for thread in threads:
            thread.join()
        mine = qemu.cleanup_owned_by(os.getpid())
        if mine:
            log(f"stopped VMs left by this run: {' '.join(mine)}")
    return results


def failure_report(result: dict, started_at: float) -> str:
    name = result["name"]
    lines = [f"=== {name} FAILED at molecule step '{result['failed_step']}' (exit {result['code']}) ===",
             f"--- end of the molecule output ({result['log']}) ---"]
    output = result["log"].read_text(encoding="utf-8", errors="replace").splitlines()
    lines += output[-80:]
    prefix = re.sub(r"[^A-Za-z0-9_.-]", "_", name) + "-"
    consoles = [p for p in sorted(qemu.logs_dir().glob(f"{prefix}*.console.log")) if p.stat().st_mtime >= started_at]
    consoles += sorted(qemu.vms_dir().glob(f"{prefix}*/console.log"))
    if not consoles:
        lines.append("(no console log of this scenario's VMs)")
    for path in consoles:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
        lines.append(f"--- last 40 lines of the VM console log {path} ---")
        lines += text[-40:]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="run-vm-tier", description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", help="scenario names (default: all under extensions/molecule/)")
    parser.add_argument("--fail-fast", action="store_true", help="start no scenario after the first failure")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("NODEPREP_VM_JOBS", "2")),
                        help="scenarios run at once (default: $NODEPREP_VM_JOBS or 2)")
    parser.add_argument("--max-vms", type=int, default=int(os.environ.get("NODEPREP_VM_MAX_VMS", "2")),
                        help="VMs running at once across scenarios; a bigger scenario runs alone "
                             "(default: $NODEPREP_VM_MAX_VMS or 2)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and their images")
    args = parser.parse_args(argv)

    names = args.scenarios or scenario_names()
    unknown = sorted(set(names) - set(scenario_names()))
    if unknown:
        raise VMError(f"unknown scenario(s): {' '.join(unknown)}; known: {' '.join(scenario_names())}")
    if args.list:
        for name in names:
            print(f"{name}\t{' '.join(scenario_images(name))}")
        return 0

    tier_start = time.monotonic()
    subprocess.run([str(REPO / "tests" / "vm" / "install-host-deps")], check=True)
    env = prepare_environment()
    # The harness's own host-side tests first: a broken harness should not cost a VM boot to find out.
    selftest = subprocess.run(["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REPO / "tests/vm/tests")],
                              cwd=REPO, env=env, check=False)
    if selftest.returncode != 0:
        raise VMError("the VM test bed's self-tests (tests/vm/tests) failed")
    stale = qemu.cleanup()
    if stale:
        log(f"stopped leftover VMs: {' '.join(stale)}")
    log_dir = cache_dir() / "logs" / "tier"
    log_dir.mkdir(parents=True, exist_ok=True)

    needed = []
    for name in names:
        needed += [image for image in scenario_images(name) if image not in needed]
    images_ready = ImagePreparer(needed)
    images_ready.start()

    durations = log_dir / "durations.json"
    order = schedule(names, load_durations(durations))
    results = run_all(order, env, log_dir, max(1, args.jobs), args.fail_fast, images_ready, max(1, args.max_vms))
    save_durations(durations, results)
    results.sort(key=lambda r: names.index(r["name"]))

    failed = [r for r in results if not r["ok"]]
    print("\n" + phase_table(results, images_ready.times, images_ready.seconds, time.monotonic() - tier_start))
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or len(results) < len(names) else 0
