"""The soak (bench/soak.py), shortened for CI: 30 s, 50 clients, 10 crash-looping services, the
sessions, the scraper and the hostile clients of the full run, against the droverd of the build
under test. With the ASan build, LeakSanitizer runs when droverd exits: a leak makes the exit
code non-zero. Every call but the hostile clients' must succeed, and droverd must exit 0 after
SIGTERM."""

import json
import os
import subprocess

from conftest import BUILD, ROOT


def test_a_short_soak_fails_no_call_and_droverd_exits_0(tmp_path):
    out = tmp_path / "soak.json"
    env = dict(os.environ, BUILD=BUILD, BENCH_JSON=str(out), SOAK_SECONDS="30", CLIENTS="50",
               SERVICES="10", SAMPLE_S="5", HOSTILE_PERIOD_S="3", HOSTILE_HOLD_S="2")
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "soak.py")], env=env,
                       capture_output=True, text=True, timeout=150)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(out.read_text())["soak"]
    report = r.stdout[-6000:] + r.stderr[-3000:]
    assert "error" not in res, report
    assert len(res["samples"]) >= 6, report
    assert res["ok_calls"] > 500, report
    assert res["failed_calls"] == 0, report
    assert res["hostile_cycles"] >= 12, report  # every hostile client ran
    assert res["hostile_anomalies"] == 0, report
    assert res["services_errored"] == 0 and res["restarts_total"] >= 10, report
    assert min(s["zombies"] for s in res["samples"]) == 0, report  # none kept unreaped
    assert res["droverd_exit"] == 0, report + "\n".join(res.get("droverd_log", []))
    assert res["droverd_left_processes"] == 0, report
