#!/usr/bin/python3
"""Containers as droverd runs them (drover.v1.Containers on the unix socket, the host's OCI
runtime), with Debian's podman side by side on the same image and the same runtime. Prints one
table; never fails (podman is skipped when it is missing or cannot run here).

The image is built here from Debian's busybox-static with umoci (tests/images/mkimage.sh), and
given to both: droverd imports the OCI layout, podman pulls it from the same layout with `oci:`.
podman runs with a private --root and --runroot in the temporary directory, the cgroupfs
manager, the file events backend, `--runtime` the same runtime droverd picked, `--network none`
(droverd's default too), and the rlimits this host lets a container have (no CAP_SYS_RESOURCE
here: podman's defaults fail on rlimits otherwise).

Rows (N = CONTAINERS, default 100; P = PODMAN_N, default 100):
  run to exit         Create(start) then Wait of `true`, N times (python3-grpcio; droverd
                      removes the container afterwards, outside the timing), and the CLI's
                      `drover container run --rm busybox true` N times (wall time, a process
                      each, --rm included): what `podman run --rm IMAGE true` does, P times.
  create -> running   Create(start) of `sleep 1000` N times, each answered once it runs, against
                      `podman run -d IMAGE sleep 1000` P times.
  stop -> removed     Remove(force) of those N running containers (SIGKILL, the runtime's
                      delete, the overlay unmounted, the files removed), against `podman rm -f
                      -t 0` of the P.
  memory              droverd's RSS and PSS with 0 and N containers running: per container =
                      (at N - at 0) / N. podman keeps one conmon per container: its RSS and PSS
                      summed over the P, per container. The containers' own processes count on
                      neither side.
Ratios are podman / drover (above 1: drover is faster, or smaller). Every process started here
is stopped by pid (droverd with SIGTERM, which stops its containers); podman's containers are
removed with `podman rm -f`, then its storage is reset.
"""

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
N = int(os.environ.get("CONTAINERS", "100"))
P = int(os.environ.get("PODMAN_N", "100"))
DROVERD = os.path.join(BUILD, "src", "droverd")
sys.path.insert(0, os.path.join(ROOT, "bench"))
from results import record  # noqa: E402


def pct(v, p):
    s = sorted(v)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * (len(s) - 1)))))]


def lat(v):
    return {"p50": pct(v, 50), "p99": pct(v, 99), "max": max(v)} if v else None


def mem(pid):
    rss = pss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def stubs():
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    import conftest  # noqa: F401  (generates the Python stubs)
    from drover.v1 import containers_pb2, containers_pb2_grpc
    return containers_pb2, containers_pb2_grpc


class Droverd:
    def __init__(self, tmp):
        import grpc
        os.makedirs(tmp, exist_ok=True)
        self.sock = os.path.join(tmp, "d.sock")
        notify_path = os.path.join(tmp, "notify.sock")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        notify.settimeout(20)
        self.log = open(os.path.join(tmp, "droverd.log"), "ab")
        self.proc = subprocess.Popen(
            [DROVERD, "--socket", self.sock, "--state-dir", os.path.join(tmp, "state"),
             "--log-level", "warning", "--emergency-reserve-bytes", "65536"],
            env=dict(os.environ, NOTIFY_SOCKET=notify_path), stdout=self.log,
            stderr=subprocess.STDOUT)
        try:
            while "READY=1" not in notify.recv(4096).decode():
                pass
        finally:
            notify.close()
        self.ch = grpc.insecure_channel("unix:" + self.sock)

    def stop(self):
        self.ch.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def drover_rows(tmp, image):
    pb, pbg = stubs()
    d = Droverd(os.path.join(tmp, "droverd"))
    out = {}
    try:
        c, i = pbg.ContainersStub(d.ch), pbg.ImagesStub(d.ch)
        i.Import(pb.ImportImageRequest(source=image), timeout=120)
        rt = None
        runs = []
        for _ in range(N):
            t = time.perf_counter()
            x = c.Create(pb.CreateContainerRequest(spec=pb.ContainerSpec(
                image="busybox", command=["true"]), start=True), timeout=60)
            w = c.Wait(pb.ContainerRef(container=x.id), timeout=60)
            runs.append((time.perf_counter() - t) * 1000)
            assert w.exit_code == 0, w
            rt = w.runtime
            c.Remove(pb.RemoveContainerRequest(container=x.id), timeout=60)
        out["runtime"] = rt
        out["run_to_exit_ms"] = lat(runs)
        cli = []
        for _ in range(N):  # the CLI, a process each, as podman's figure is
            t = time.perf_counter()
            r = subprocess.run([os.path.join(BUILD, "src", "drover"), "--socket", d.sock,
                                "container", "run", "--rm", "busybox", "true"],
                               capture_output=True, timeout=60)
            cli.append((time.perf_counter() - t) * 1000)
            assert r.returncode == 0, r.stderr
        out["run_to_exit_cli_ms"] = lat(cli)
        time.sleep(0.5)
        rss0, pss0 = mem(d.proc.pid)
        up, ids = [], []
        for _ in range(N):
            t = time.perf_counter()
            x = c.Create(pb.CreateContainerRequest(spec=pb.ContainerSpec(
                image="busybox", command=["sleep", "1000"]), start=True), timeout=60)
            up.append((time.perf_counter() - t) * 1000)
            ids.append(x.id)
        out["create_running_ms"] = lat(up)
        time.sleep(0.5)
        rss1, pss1 = mem(d.proc.pid)
        out["rss_kb_per_container"] = (rss1 - rss0) / N
        out["pss_kb_per_container"] = (pss1 - pss0) / N
        out["rss_kb_idle"], out["rss_kb_with_n"] = rss0, rss1
        down = []
        for x in ids:
            t = time.perf_counter()
            c.Remove(pb.RemoveContainerRequest(container=x, force=True), timeout=60)
            down.append((time.perf_counter() - t) * 1000)
        out["stop_removed_ms"] = lat(down)
    finally:
        d.stop()
    return out


def podman_rows(tmp, image, runtime):
    if not shutil.which("podman"):
        return {"skipped": "podman is not installed"}
    base = ["podman", "--root", os.path.join(tmp, "pm-root"), "--runroot",
            os.path.join(tmp, "pm-run"), "--cgroup-manager", "cgroupfs", "--events-backend",
            "file", "--runtime", runtime or "runc"]
    opts = ["--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit",
            "nproc=4096:4096"]
    out = {}

    def pm(*args, check=True):
        r = subprocess.run(base + list(args), capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)}: {r.stderr.strip()}")
        return r

    try:
        pm("pull", "-q", f"oci:{image}:busybox:latest")
        ref = pm("images", "-q").stdout.split()[0]
        pm("run", "--rm", *opts, ref, "true")  # warm up
        runs = []
        for _ in range(P):
            t = time.perf_counter()
            pm("run", "--rm", *opts, ref, "true")
            runs.append((time.perf_counter() - t) * 1000)
        out["run_to_exit_ms"] = lat(runs)
        up, ids = [], []
        for _ in range(P):
            t = time.perf_counter()
            ids.append(pm("run", "-d", *opts, ref, "sleep", "1000").stdout.strip())
            up.append((time.perf_counter() - t) * 1000)
        out["create_running_ms"] = lat(up)
        time.sleep(0.5)
        rss = pss = 0
        for cid in ids:
            pid = int(pm("inspect", "--format", "{{.State.ConmonPid}}", cid).stdout.strip())
            r, p = mem(pid)
            rss, pss = rss + r, pss + p
        out["rss_kb_per_container"] = rss / P
        out["pss_kb_per_container"] = pss / P
        down = []
        for cid in ids:
            t = time.perf_counter()
            pm("rm", "-f", "-t", "0", cid)
            down.append((time.perf_counter() - t) * 1000)
        out["stop_removed_ms"] = lat(down)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        out = {"skipped": str(e)[:300]}
    finally:
        pm("rm", "-a", "-f", "-t", "0", check=False)
        pm("system", "reset", "-f", check=False)
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="drover-bench-ctr-")
    try:
        image = os.path.join(tmp, "busybox")
        subprocess.run([os.path.join(ROOT, "tests", "images", "mkimage.sh"), image,
                        "busybox:latest"], check=True, capture_output=True)
        d = drover_rows(tmp, image)
        p = podman_rows(tmp, image, d.get("runtime"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"containers: runtime {d.get('runtime')}, drover N={N}, podman P={P}")
    print(f"{'row':28} {'drover':>22} {'podman':>22} {'ratio':>7}")

    def row(name, key, unit, sub=None):
        a = d.get(key)
        b = p.get(key) if "skipped" not in p else None
        va = a[sub] if sub and a else a
        vb = b[sub] if sub and b else b
        ratio = f"{vb / va:.2f}" if va and vb else "-"
        fa = f"{va:.1f} {unit}" if va is not None else "-"
        fb = f"{vb:.1f} {unit}" if vb is not None else "-"
        print(f"{name:28} {fa:>22} {fb:>22} {ratio:>7}")

    if "skipped" not in p:  # podman's only figure is its CLI's: the CLI row is the pair
        p["run_to_exit_cli_ms"] = p.get("run_to_exit_ms")
    for sub in ("p50", "p99"):
        row(f"run to exit {sub}", "run_to_exit_ms", "ms", sub)
        row(f"run to exit, CLI {sub}", "run_to_exit_cli_ms", "ms", sub)
        row(f"create -> running {sub}", "create_running_ms", "ms", sub)
        row(f"stop -> removed {sub}", "stop_removed_ms", "ms", sub)
    row("RSS per container", "rss_kb_per_container", "kB")
    row("PSS per container", "pss_kb_per_container", "kB")
    if "skipped" in p:
        print(f"podman skipped: {p['skipped']}")
    record("containers", {"containers": N, "podman_n": P, "drover": d, "podman": p})


if __name__ == "__main__":
    main()
