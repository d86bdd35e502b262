#!/usr/bin/python3
"""Service benchmarks against a running droverd (bench/run starts one): prints figures, never
fails. Peers side by side come with the benchmark suite (issue 9).

  start N services until all run, stop them all     (wall time)
  restart latency after SIGKILL, restart delay 0    (median, p99 of ROUNDS; the service writes
                                                     its own start time), beside the same
                                                     program's fork+exec from a bare C loop
  drover ls with N services                         (median CLI wall time)
  droverd RSS with N services
"""

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import conftest  # noqa: E402  (generates the Python stubs)
from drover.v1 import services_pb2 as pb, services_pb2_grpc  # noqa: E402
import grpc  # noqa: E402


def main():
    sock, drover, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
    n = int(os.environ.get("SERVICES", "50"))
    rounds = int(os.environ.get("ROUNDS", "20"))
    st = services_pb2_grpc.ServicesStub(grpc.insecure_channel(f"unix:{sock}"))
    tmp = tempfile.mkdtemp()

    t0 = time.monotonic()
    for i in range(n):
        st.Start(pb.StartServiceRequest(spec=pb.ServiceSpec(name=f"s{i}", cmd=["sleep", "3600"])))
    while any(s.state != pb.SERVICE_STATE_ONLINE for s in st.List(pb.ListServicesRequest()).services):
        time.sleep(0.001)
    print(f"start_{n}_ms={(time.monotonic() - t0) * 1000:.1f}")

    ls = []
    for _ in range(20):
        t = time.monotonic()
        subprocess.run([drover, "--socket", sock, "ls"], stdout=subprocess.DEVNULL, check=True)
        ls.append((time.monotonic() - t) * 1000)
    print(f"ls_{n}_services_ms_median={statistics.median(ls):.2f}")
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    print(f"droverd_rss_kb_with_{n}_services={rss}")

    t0 = time.monotonic()
    st.Stop(pb.ServiceTarget(target="all"), timeout=60)
    print(f"stop_{n}_ms={(time.monotonic() - t0) * 1000:.1f}")
    st.Delete(pb.ServiceTarget(target="all"), timeout=60)

    # The service is `spawn-bench stamp`: it writes its start time itself, so the figure is
    # droverd's restart plus one exec, and the limit beside it is the same program spawned by
    # posix_spawn from a bare C loop (spawn-bench exec-latency).
    spawn_bench = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(drover))),
                               "bench", "spawn-bench")
    limit = subprocess.run([spawn_bench, "exec-latency", str(rounds), os.path.join(tmp, "bare")],
                           capture_output=True, text=True).stdout.strip()
    stamps = os.path.join(tmp, "starts")
    st.Start(pb.StartServiceRequest(spec=pb.ServiceSpec(
        name="crashy", restart_delay_ms={"value": 0}, min_uptime_ms={"value": 0},
        cmd=[spawn_bench, "stamp", stamps])))
    lat = []
    for _ in range(rounds):
        while not os.path.exists(stamps):
            time.sleep(0.001)
        lines = len(open(stamps).read().split())
        s = st.Get(pb.ServiceTarget(target="crashy"))
        killed = time.time_ns()
        os.kill(s.pid, signal.SIGKILL)
        while len(open(stamps).read().split()) == lines:
            time.sleep(0.0005)
        started = int(open(stamps).read().split()[-1])
        lat.append((started - killed) / 1e6)
    lat.sort()
    print(f"restart_after_sigkill_ms_median={statistics.median(lat):.2f} "
          f"p99={lat[min(len(lat) - 1, int(len(lat) * 0.99))]:.2f}")
    print(f"limit: posix_spawn until the same program's stamp, from C: {limit}")
    st.Delete(pb.ServiceTarget(target="all"), timeout=60)


if __name__ == "__main__":
    main()
