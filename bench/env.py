"""The bench's surroundings: the machine it runs on, a throwaway registry, Docker housekeeping."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _output(*argv: str) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def _proc_field(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def compile_bytecode(root: Path) -> None:
    """Byte-compile engine/ and graph/ as installing the package does: an editable install run with
    PYTHONDONTWRITEBYTECODE set (as on this machine) would otherwise compile every module on every run."""
    import compileall

    for package in ("engine", "graph"):
        compileall.compile_dir(root / package, quiet=1)


def machine(with_docker: bool = True) -> dict[str, Any]:
    """Date and machine: nproc, CPU model, memory, kernel, Python, and the Docker/buildx versions."""
    memory_kb = _proc_field("/proc/meminfo", "MemTotal").split()
    info: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count() or 0,
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "memory_gb": round(int(memory_kb[0]) / 2**20, 1) if memory_kb else 0.0,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }
    if with_docker:
        info["docker"] = _output("docker", "version", "--format", "{{.Server.Version}}") or "unavailable"
        info["buildx"] = _output("docker", "buildx", "version") or "unavailable"
        info["builder"] = _builder()
    return info


def _builder() -> str:
    text = _output("docker", "buildx", "inspect")
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    driver = fields.get("Driver", "").strip()
    store = "containerd image store" if "io.containerd.snapshotter" in _output(
        "docker", "info", "--format", "{{json .DriverStatus}}") else ""
    name = f"{fields.get('Name', '').strip()} ({driver} driver)" if driver else ""
    return ", ".join(part for part in (name, store) if part)


def engine_problem() -> str:
    """Why the real engine cannot be used here ('' when docker, buildx and docker-registry answer)."""
    if shutil.which("docker") is None:
        return "docker is not installed (run `make setup`)"
    if not _output("docker", "version", "--format", "{{.Server.Version}}"):
        return "the Docker daemon does not answer (run `make setup`)"
    if not _output("docker", "buildx", "version"):
        return "docker buildx is missing (run `make setup`)"
    if shutil.which("docker-registry") is None:
        return "docker-registry is not installed (run `make setup`)"
    return ""


SETTLE_BUSY = 0.15  # of all cores: below this the machine counts as quiet
SETTLE_MAX_S = 20.0


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text(encoding="utf-8").split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def settle(window_s: float = 0.3, limit_s: float = SETTLE_MAX_S) -> float:
    """Wait until the machine is quiet (two windows in a row under SETTLE_BUSY), at most limit_s: what the
    last run left behind (the engine's garbage collection, a cache export) must not be timed as the
    next run's work. Seconds waited."""
    start, quiet = time.monotonic(), 0
    while quiet < 2 and time.monotonic() - start < limit_s:
        busy_before, total_before = _cpu_times()
        time.sleep(window_s)
        busy, total = _cpu_times()
        share = (busy - busy_before) / max(1, total - total_before)
        quiet = quiet + 1 if share < SETTLE_BUSY else 0
    return round(time.monotonic() - start, 2)


def peak_rss_mb(pid: int | str = "self") -> float:
    """A process's peak resident set in MB: VmHWM of /proc/PID/status, which starts afresh at exec
    (ru_maxrss would also count the parent a subprocess was forked from); 0 when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayRegistry:
    """Debian's docker-registry on a loopback port with its own folder; reset() empties it.

    access_log: it writes one line per request to `access.log` in its folder (bench/accesslog.py)."""

    def __init__(self, folder: Path, access_log: bool = False) -> None:
        self.folder = folder
        self.port = free_port()
        self.access_log = access_log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ThrowawayRegistry:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\n"
            f"  accesslog:\n    disabled: {str(not self.access_log).lower()}\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.folder / 'data'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n", encoding="utf-8")
        log = (self.folder / "registry.log").open("ab")
        out = (self.folder / "access.log").open("ab") if self.access_log else log  # access lines go to stdout
        binary = shutil.which("docker-registry") or "docker-registry"
        with log, out:
            self.process = subprocess.Popen([binary, "serve", str(config)], stdout=out, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v2/", timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the throwaway registry did not start; see {self.folder / 'registry.log'}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def reset(self) -> None:
        """Stop, delete every repository, start again on the same port."""
        self.stop()
        shutil.rmtree(self.folder / "data", ignore_errors=True)
        self.start()


def prune_build_cache() -> None:
    """Empty the builder's cache (`docker buildx prune -af`): every layer of every build is gone."""
    subprocess.run(["docker", "buildx", "prune", "-af"], capture_output=True, check=True, timeout=600)


CONTAINERD_SOCKETS = ("/var/run/docker/containerd/containerd.sock", "/run/containerd/containerd.sock")


def _ctr_images() -> list[str]:
    """`ctr images` in dockerd's containerd namespace; [] without ctr or its socket."""
    ctr = shutil.which("ctr")
    socket = next((path for path in CONTAINERD_SOCKETS if Path(path).exists()), "")
    return [ctr, "-a", socket, "-n", "moby", "images"] if ctr and socket else []


def image_refs() -> set[str] | None:
    """Every image reference in the engine's image store (through ctr when it can, else the docker CLI);
    None when it cannot be listed (an empty set is an empty store)."""
    ctr = _ctr_images()
    if ctr:
        done = subprocess.run([*ctr, "ls", "-q"], capture_output=True, text=True, timeout=60, check=False)
        if done.returncode == 0:
            return set(done.stdout.split())
    try:
        listed = subprocess.run(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
                                capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if listed.returncode != 0:
        return None
    return {ref for ref in listed.stdout.split() if "<none>" not in ref}


def remove_refs(refs: Iterable[str], log: Path) -> str:
    """Remove these image references from the engine's image store; how it was done.

    With the containerd image store `docker image rm` takes seconds per image on a busy machine
    (minutes for a bench run's images), while deleting the image records in dockerd's containerd
    namespace (`ctr -n moby images rm`) takes milliseconds and leaves the content to containerd's
    garbage collector; dockerd sees the change at once. Without ctr, `docker image rm` runs in a
    detached background process logging to log.
    """
    refs, ctr = sorted(refs), _ctr_images()
    if not refs:
        return "none to remove"
    removed = ctr and subprocess.run([*ctr, "rm", *refs], capture_output=True, timeout=600, check=False)
    if removed and removed.returncode == 0:
        return "ctr"
    refs_file = log.with_suffix(".refs")
    refs_file.write_text("\n".join(refs) + "\n", encoding="utf-8")
    with log.open("ab") as out:
        subprocess.Popen(["xargs", "-a", str(refs_file), "docker", "image", "rm", "-f"], stdout=out,
                         stderr=out, stdin=subprocess.DEVNULL, start_new_session=True)
    return f"docker image rm in the background (log: {log})"


def remove_images(marker: str, log: Path) -> tuple[int, str]:
    """Remove the local images whose reference contains marker; (how many, how): none when the image
    store cannot be listed."""
    refs = [ref for ref in image_refs() or () if marker in ref]
    return len(refs), remove_refs(refs, log)
