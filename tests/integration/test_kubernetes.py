"""deploy/kubernetes/: every manifest checked against the Kubernetes API schema available here,
and what the manifests configure run for real.

No cluster is reachable and kubectl cannot validate offline (its --dry-run=client fetches the
OpenAPI schema from a server), so the schema is python3-kubernetes' (Debian's 22.6: the API of
Kubernetes 1.22, generated from its OpenAPI document). Every field of every object must be one
the schema has, of its type, and every required field present. Two things are newer than 1.22
or outside the core API, and are checked against the fields their documentation gives: the
gRPC probe (`grpc: {port, service}`, Kubernetes 1.24+) and the Prometheus Operator's PodMonitor
and ServiceMonitor (CRDs, monitoring.coreos.com/v1). Then: the ports the probes, Services and
monitors name exist; the ConfigMaps' drover.yaml run in droverd, whose gRPC health answers
SERVING (what the kubelet's gRPC probe asks) and whose services come up."""
import glob
import os
import shutil

import grpc
import pytest
import yaml

from conftest import ROOT, free_port, wait_until

k8s = pytest.importorskip("kubernetes.client", reason="python3-kubernetes is not installed")

MANIFESTS = sorted(glob.glob(os.path.join(ROOT, "deploy", "kubernetes", "*.yaml")))
CORE = {("v1", "ConfigMap"): "V1ConfigMap", ("v1", "Pod"): "V1Pod",
        ("v1", "Service"): "V1Service", ("apps/v1", "DaemonSet"): "V1DaemonSet"}
# Newer than the 1.22 models, as their documentation gives them: {field: (type, required)}.
NEWER = {"V1Probe": {"grpc": {"port": ("int", True), "service": ("str", False)}}}
ENDPOINT = {"port": ("str", True), "path": ("str", False), "interval": ("str", False),
            "scheme": ("str", False)}
CRDS = {
    "PodMonitor": {"selector": ("V1LabelSelector", True),
                   "podMetricsEndpoints": (["endpoint"], True),
                   "namespaceSelector": ({"matchNames": ("list[str]", False),
                                          "any": ("bool", False)}, False)},
    "ServiceMonitor": {"selector": ("V1LabelSelector", True),
                       "endpoints": (["endpoint"], True),
                       "namespaceSelector": ({"matchNames": ("list[str]", False),
                                              "any": ("bool", False)}, False)},
}


def documents():
    for path in MANIFESTS:
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    yield os.path.basename(path), doc


def check(value, typ, path, errors):
    """Appends to errors what in value does not fit the schema type typ."""
    if isinstance(typ, dict):  # a small schema of our own
        if not isinstance(value, dict):
            return errors.append(f"{path}: not a mapping")
        for key, v in value.items():
            if key not in typ:
                errors.append(f"{path}.{key}: unknown field")
            else:
                check(v, typ[key][0], f"{path}.{key}", errors)
        for key, (_, required) in typ.items():
            if required and key not in value:
                errors.append(f"{path}.{key}: required")
        return
    if isinstance(typ, list):  # our own list of endpoints
        if not isinstance(value, list) or not value:
            return errors.append(f"{path}: not a non-empty list")
        for i, v in enumerate(value):
            check(v, ENDPOINT, f"{path}[{i}]", errors)
        return
    simple = {"str": str, "bool": bool, "int": int, "float": (int, float)}
    if typ in simple:
        if not isinstance(value, simple[typ]) or (typ == "int" and isinstance(value, bool)):
            errors.append(f"{path}: {value!r} is not {typ}")
        return
    if typ == "object":  # IntOrString, quantities, free-form
        return
    if typ.startswith("list["):
        if not isinstance(value, list):
            return errors.append(f"{path}: not a list")
        for i, v in enumerate(value):
            check(v, typ[5:-1], f"{path}[{i}]", errors)
        return
    if typ.startswith("dict("):
        if not isinstance(value, dict):
            return errors.append(f"{path}: not a mapping")
        inner = typ[5:-1].split(", ", 1)[1]
        for key, v in value.items():
            check(v, inner, f"{path}.{key}", errors)
        return
    klass = getattr(k8s, typ)
    if not isinstance(value, dict):
        return errors.append(f"{path}: not a {typ}")
    names = {json: attr for attr, json in klass.attribute_map.items()}
    kwargs = {}
    for key, v in value.items():
        if key in NEWER.get(typ, {}):
            check(v, NEWER[typ][key], f"{path}.{key}", errors)
        elif key not in names:
            errors.append(f"{path}.{key}: no such field in {typ}")
        else:
            kwargs[names[key]] = v
            check(v, klass.openapi_types[names[key]], f"{path}.{key}", errors)
    try:  # the generated constructor refuses a missing required field
        klass(**kwargs)
    except ValueError as e:
        errors.append(f"{path}: {e}")


def test_every_manifest_fits_the_schema():
    seen = set()
    for name, doc in documents():
        kind, api = doc.get("kind"), doc.get("apiVersion")
        errors = []
        if (api, kind) in CORE:
            check(doc, CORE[(api, kind)], f"{name}:{kind}", errors)
        elif api == "monitoring.coreos.com/v1" and kind in CRDS:
            check(doc, {"apiVersion": ("str", True), "kind": ("str", True),
                        "metadata": ("V1ObjectMeta", True), "spec": (CRDS[kind], True)},
                  f"{name}:{kind}", errors)
        else:
            errors.append(f"{name}: {api} {kind} is not a kind this test knows")
        assert not errors, "\n".join(errors)
        seen.add(kind)
    assert seen == {"ConfigMap", "Pod", "DaemonSet", "Service", "PodMonitor", "ServiceMonitor"}


def test_the_checker_catches_mistakes():
    """The schema walk is not a formality: each of these is refused."""
    bad = [({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
             "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicy": 3}]}},
            "is not str"),
           ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
             "spec": {"containers": [{"name": "c", "image": "i", "livenessProbe": {
                 "grpc": {"service": "x"}}}]}}, "grpc.port: required"),
           ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {}},
            "containers"),
           ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
             "spec": {"containers": [], "hostPid": True}}, "no such field")]
    for doc, says in bad:
        errors = []
        check(doc, "V1Pod", "t", errors)
        assert any(says in e for e in errors), (says, errors)


def objects():
    return {(doc["kind"], doc["metadata"]["name"]): doc for _, doc in documents()}


def test_ports_probes_and_monitors_agree():
    o = objects()
    pod = o[("Pod", "drover-app")]["spec"]["containers"][0]
    app_conf = yaml.safe_load(o[("ConfigMap", "drover-app")]["data"]["drover.yaml"])
    grpc_port = int(app_conf["grpc_tcp"].rsplit(":", 1)[1])
    ports = {p["containerPort"] for p in pod["ports"]}
    assert pod["livenessProbe"]["grpc"]["port"] == grpc_port == pod["readinessProbe"]["grpc"]["port"]
    assert grpc_port in ports and int(app_conf["http"].rsplit(":", 1)[1]) in ports
    assert app_conf["podinfo_dir"] in {m["mountPath"] for m in pod["volumeMounts"]}
    ds = o[("DaemonSet", "drover-node-agent")]["spec"]["template"]
    agent = ds["spec"]["containers"][0]
    node_conf = yaml.safe_load(o[("ConfigMap", "drover-node-agent")]["data"]["drover.yaml"])
    http_port = int(node_conf["http"].rsplit(":", 1)[1])
    named = {p["name"]: p["containerPort"] for p in agent["ports"]}
    assert named["http-metrics"] == http_port == agent["livenessProbe"]["httpGet"]["port"]
    assert ds["metadata"]["annotations"]["prometheus.io/port"] == str(http_port)
    assert ds["spec"]["hostPID"] is True
    svc = o[("Service", "drover-node-agent")]["spec"]
    assert svc["ports"][0]["targetPort"] in named
    labels = ds["metadata"]["labels"]
    for kind, key in (("PodMonitor", "podMetricsEndpoints"), ("ServiceMonitor", "endpoints")):
        m = o[(kind, "drover-node-agent")]["spec"]
        assert m["selector"]["matchLabels"].items() <= labels.items()
        assert all(e["port"] in named for e in m[key])
    # droverd's grace fits the pod's.
    assert app_conf["shutdown_grace_ms"] < o[("Pod", "drover-app")]["spec"][
        "terminationGracePeriodSeconds"] * 1000


def test_the_app_configuration_runs(make_droverd, tmp_path):
    """The pod's drover.yaml in droverd (ports and paths moved here): both services come up,
    web healthy, and grpc.health.v1 says SERVING, as the kubelet's gRPC probe asks."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not os.access(busybox, os.X_OK):
        pytest.skip("busybox is not installed (busybox-static)")
    from health_pb2 import HealthCheckRequest, HealthCheckResponse
    from health_pb2_grpc import HealthStub
    conf = objects()[("ConfigMap", "drover-app")]["data"]["drover.yaml"]
    conf = conf.replace("8080", str(free_port()))  # web's port, in its command and its probe
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(busybox, bindir / "httpd")
    podinfo = tmp_path / "podinfo"
    podinfo.mkdir()
    (podinfo / "labels").write_text('app.kubernetes.io/name="drover"\n')
    port, http = free_port(), free_port()
    d = make_droverd(config=conf, env={"PATH": f"{bindir}:{os.environ['PATH']}"}, extra_args=[
        "--grpc-tcp", f"127.0.0.1:{port}", "--http", f"127.0.0.1:{http}",
        "--podinfo-dir", str(podinfo)])

    def ls():
        return {s.split()[1]: s.split()[2] for s in d.cli("ls").stdout.splitlines()[1:]}
    wait_until(lambda: ls() == {"worker": "online", "web": "online"}, timeout=30,
               what="worker and web online")
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        assert HealthStub(ch).Check(HealthCheckRequest(), timeout=10).status == \
            HealthCheckResponse.SERVING
