"""The OCI image (scripts/build-image, `make image`) under podman, as a container engine runs
it: droverd as PID 1 and as the user drover reads /etc/drover/drover.yaml, starts its services,
answers `podman exec … drover`, serves /healthz, reaps orphans, and stops everything on `podman
stop` within its grace, with exit code 0, or 3 when it had to kill. `make image-test` runs
this; where podman cannot run a container here the tests are skipped, saying why.

This machine lacks CAP_SYS_RESOURCE and runs hybrid cgroups (crun refuses them): the probe
below finds the runtime (crun, else runc) and rlimits (the engine's default, else the current
hard limits lowered to 1024) that work, and every test uses them."""
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

IMAGE = os.environ.get("DROVER_IMAGE", "localhost/drover:latest")


def podman(*args, timeout=120, check=False):
    r = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def _probe():
    if not shutil.which("podman"):
        return None, "podman is not installed"
    if podman("image", "exists", IMAGE).returncode != 0:
        return None, f"no image {IMAGE}: run make image"
    limits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
    why = ""
    for opts in ([], limits, ["--runtime", "runc"], ["--runtime", "runc", *limits]):
        r = podman("run", "--rm", *opts, "--entrypoint", "/bin/true", IMAGE)
        if r.returncode == 0:
            return opts, None
        why = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
    return None, f"podman cannot run a container here: {why}"


OPTS, WHY = _probe()
pytestmark = pytest.mark.skipif(OPTS is None, reason=WHY or "")


class Container:
    def __init__(self, tmp_path, config):
        (tmp_path / "etc").mkdir()
        (tmp_path / "etc" / "drover.yaml").write_text(config)
        self.name = "drover-test-" + uuid.uuid4().hex[:8]
        podman("run", "-d", "--name", self.name, *OPTS, "-v",
               f"{tmp_path / 'etc'}:/etc/drover:ro", IMAGE, check=True)

    def exec(self, *args, check=True):
        return podman("exec", *OPTS[:2] if OPTS[:1] == ["--runtime"] else (), self.name, *args,
                      check=check)

    def services(self):
        r = self.exec("drover", "--json", "ls", check=False)
        return {s["name"]: s for s in json.loads(r.stdout)} if r.returncode == 0 else {}

    def wait(self, pred, what, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out: {what}\n" + podman("logs", self.name).stderr)

    def stop(self, timeout=30):
        podman("stop", "-t", str(timeout), self.name, check=True)
        return int(podman("inspect", self.name, "--format", "{{.State.ExitCode}}",
                          check=True).stdout)

    def remove(self):
        podman("rm", "-f", self.name)


@pytest.fixture
def container(tmp_path):
    made = []

    def make(config):
        c = Container(tmp_path, config)
        made.append(c)
        return c

    yield make
    for c in made:
        c.remove()


SERVICE = """  - name: s{i}
    cmd: [sh, -c, "trap 'exit 0' TERM; while :; do sleep 0.2; done"]
"""


def test_services_exec_health_and_a_graceful_stop(container):
    conf = ('http: "0.0.0.0:3000"\nservices:\n' + "".join(SERVICE.format(i=i) for i in range(10))
            + '  - name: web\n    cmd: [sh, -c, "exec sleep 300"]\n    depends_on: [s0]\n'
            '    probe: {type: exec, command: "test -d /"}\n')
    c = container(conf)
    c.wait(lambda: len(c.services()) == 11 and
           all(s["state"] == "online" for s in c.services().values()), what="11 services online")
    c.wait(lambda: c.services()["web"].get("healthy") is True, what="web healthy")
    # droverd is PID 1 and runs as drover, not root.
    status = c.exec("cat", "/proc/1/status").stdout
    assert "\nUid:\t10001\t" in status and "Name:\tdroverd" in status
    assert c.exec("wget", "-qO-", "http://127.0.0.1:3000/healthz").stdout.strip() != ""
    assert c.stop() == 0


def test_a_service_that_ignores_sigterm_makes_exit_code_3(container):
    c = container("services:\n  - name: stubborn\n"
                  "    cmd: [sh, -c, \"trap '' TERM; while :; do sleep 0.2; done\"]\n"
                  "    kill_timeout: 500ms\n")
    c.wait(lambda: c.services().get("stubborn", {}).get("state") == "online", what="online")
    assert c.stop() == 3


def test_orphans_are_reaped(container):
    c = container("services:\n  - name: orphans\n"
                  "    cmd: [sh, -c, \"for i in $(seq 50); do (sleep 0.1 &); done; exec sleep 300\"]\n")
    c.wait(lambda: c.services().get("orphans", {}).get("state") == "online", what="online")

    def no_zombie():
        return " Z " not in c.exec("ps", "-o", "pid,stat,comm").stdout.replace("\t", " ")
    c.wait(no_zombie, what="orphans reaped")
    assert c.stop() == 0


def test_the_kubernetes_pod_manifest_plays(tmp_path):
    """deploy/kubernetes/pod.yaml under `podman kube play`: the ConfigMap, the non-root user,
    the read-only root filesystem and the emptyDir volumes as Kubernetes would give them. podman
    4.3 has no Downward API volumes: that one is left out (test_kubernetes.py checks it), and the
    runtime and rlimits found above go through a containers.conf of the test's own."""
    import yaml
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    docs = list(yaml.safe_load_all(open(os.path.join(root, "deploy/kubernetes/pod.yaml"))))
    pod = next(d for d in docs if d["kind"] == "Pod")
    pod["spec"]["volumes"] = [v for v in pod["spec"]["volumes"] if "downwardAPI" not in v]
    c = pod["spec"]["containers"][0]
    c["volumeMounts"] = [m for m in c["volumeMounts"] if m["name"] != "podinfo"]
    c["image"] = IMAGE
    play = tmp_path / "pod.yaml"
    play.write_text(yaml.safe_dump_all(docs))
    conf = tmp_path / "containers.conf"
    ulimits = [OPTS[i + 1] for i, o in enumerate(OPTS) if o == "--ulimit"]
    runtime = OPTS[OPTS.index("--runtime") + 1] if "--runtime" in OPTS else None
    conf.write_text("[containers]\ndefault_ulimits = %s\n" % json.dumps(ulimits)
                    + (f'[engine]\nruntime = "{runtime}"\n' if runtime else ""))
    env = dict(os.environ, CONTAINERS_CONF=str(conf))
    name = f"{pod['metadata']['name']}-{c['name']}"
    r = subprocess.run(["podman", "kube", "play", str(play)], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    try:
        def services():
            r = podman("exec", name, "drover", "--json", "ls")
            return {s["name"]: s for s in json.loads(r.stdout)} if r.returncode == 0 else {}
        end = time.monotonic() + 30
        while time.monotonic() < end and not (
                services().get("web", {}).get("healthy") and
                services().get("worker", {}).get("state") == "online"):
            time.sleep(0.2)
        s = services()
        assert s["worker"]["state"] == "online" and s["web"]["healthy"] is True, s
        status = podman("exec", name, "cat", "/proc/1/status").stdout
        assert "\nUid:\t10001\t" in status and "Name:\tdroverd" in status
        assert podman("exec", name, "touch", "/etc/x").returncode != 0  # read-only root
    finally:
        subprocess.run(["podman", "kube", "down", str(play)], env=env, capture_output=True,
                       timeout=120)
