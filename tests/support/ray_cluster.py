"""A real Ray cluster of two nodes on this machine, for tests and benchmarks.

``ray start --head`` and ``ray start --address HEAD`` (a second node: its own raylet,
object store and workers), both on loopback addresses, in a private temp folder. Ray
resolves 127.0.0.1 to the machine's network address before it binds (a node must be
reachable from others), so the nodes take 127.0.0.2 and 127.0.0.3: loopback too, which
Ray keeps as given, and nothing leaves the machine.

``stop()`` ends the processes of this cluster only (those that name its temp folder, and
their children), never ``ray stop``, which ends every Ray on the machine.

    with ray_cluster(tmp_path, cpus=1) as cluster:
        prepare(PrepareOptions(..., engine="ray", address=cluster.address))
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

HEAD_IP = "127.0.0.2"  # the workers' nodes: 127.0.0.3, 127.0.0.4, ...
OBJECT_STORE_BYTES = 200 * 1000 * 1000  # Ray's smallest is 75 MB; the default is 30% of RAM


def free_ports(host: str, count: int) -> list[int]:
    """``count`` distinct free ports: every socket stays bound until all are chosen (one
    bound and closed at a time, the system may give the same port twice, and the
    head's port then clashes with its dashboard agent's)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]


def _ray_start(args: list[str], env: dict[str, str], log: Path) -> None:
    command = [os.path.join(os.path.dirname(sys.executable), "ray"), "start", *args]
    with open(log, "ab") as out:
        done = subprocess.run(command, env=env, stdout=out, stderr=out, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {log.read_text()[-3000:]}")


@dataclass(frozen=True)
class Cluster:
    address: str  # the head's HOST:PORT
    temp: str  # its temp folder: every process of the cluster names it, or descends from one

    def actors(self, name: str) -> list[int]:
        """The live worker processes whose title names ``name`` (an actor's class)."""
        return actor_processes(self.temp, name)


@contextmanager
def ray_cluster(folder: Path, cpus: int = 1, nodes: int = 2) -> Iterator[Cluster]:
    """A cluster of ``nodes`` nodes (a head and workers) of ``cpus`` CPUs each. The
    nodes' workers import the dataprep this process imports; ``folder`` gets the log of
    ``ray start``."""
    # A short path: Ray's socket paths must fit in 107 bytes.
    temp = tempfile.mkdtemp(prefix="dp-ray-", dir="/tmp" if os.path.isdir("/tmp") else None)
    env = dict(os.environ)
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    # The workers import the dataprep this process imports (an editable checkout too).
    import dataprep

    source = str(Path(dataprep.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [source, env.get("PYTHONPATH", "")] if p)
    port, *agent_ports = free_ports(HEAD_IP, 1 + nodes)
    log = Path(folder) / "ray-start.log"
    common = [
        f"--num-cpus={cpus}",
        f"--object-store-memory={OBJECT_STORE_BYTES}",
        "--disable-usage-stats",
    ]
    try:
        _ray_start(
            [
                "--head",
                f"--node-ip-address={HEAD_IP}",
                f"--port={port}",
                "--include-dashboard=false",
                f"--dashboard-agent-listen-port={agent_ports[0]}",
                f"--temp-dir={temp}",
                *common,
            ],
            env,
            log,
        )
        for n in range(1, nodes):
            _ray_start(
                [
                    f"--address={HEAD_IP}:{port}",
                    f"--node-ip-address=127.0.0.{2 + n}",
                    f"--dashboard-agent-listen-port={agent_ports[n]}",
                    *common,
                ],
                env,
                log,
            )
        _wait_for_nodes(f"{HEAD_IP}:{port}", nodes, env)
        yield Cluster(f"{HEAD_IP}:{port}", temp)
    finally:
        stop(temp)
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_nodes(address: str, nodes: int, env: dict[str, str], timeout: float = 120) -> None:
    """Wait until the cluster lists ``nodes`` live nodes (a node joins after its start)."""
    ray = os.path.join(os.path.dirname(sys.executable), "ray")
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(
            [ray, "status", f"--address={address}"], env=env, capture_output=True, text=True
        ).stdout
        active = out.split("Active:", 1)[-1].split("Pending:", 1)[0]
        if active.count("node_") >= nodes:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Ray cluster at {address} did not get {nodes} nodes: {out}")
        time.sleep(1)


def cluster_processes(temp: str) -> set[int]:
    """The processes of the cluster whose temp folder is ``temp``: those naming it on
    their command line, and all their descendants (the workers)."""
    table: dict[int, tuple[int, str]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            cmd = (
                Path(f"/proc/{name}/cmdline")
                .read_bytes()
                .replace(b"\0", b" ")
                .decode("utf-8", "replace")
            )
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        table[int(name)] = (int(stat.rsplit(")", 1)[1].split()[1]), cmd)
    mine = {pid for pid, (_, cmd) in table.items() if temp in cmd}
    grew = True
    while grew:
        children = {pid for pid, (parent, _) in table.items() if parent in mine} - mine
        mine |= children
        grew = bool(children)
    return mine


def stop(temp: str, grace: float = 5.0) -> None:
    """End the cluster's processes: SIGTERM, then SIGKILL those still there."""
    pids = cluster_processes(temp)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.1)
        pids = {p for p in pids if _alive(p)}
        if not pids:
            return


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def actor_processes(temp: str, name: str) -> list[int]:
    """The live worker processes of the cluster whose title names ``name``."""
    found = []
    for pid in cluster_processes(temp):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        if name in cmd and _alive(pid):
            found.append(pid)
    return sorted(found)
