"""drover.v1.Admin, grpc.health.v1 and server reflection, through python3-grpcio."""

import os
import time

import grpc
import pytest
from google.protobuf import descriptor_pb2

from conftest import wait_until
from drover.v1 import admin_pb2, admin_pb2_grpc
import health_pb2
import health_pb2_grpc
import reflection_v1_pb2 as r1
import reflection_v1_pb2_grpc as r1_grpc
import reflection_v1alpha_pb2 as r1a
import reflection_v1alpha_pb2_grpc as r1a_grpc


def admin(d):
    return admin_pb2_grpc.AdminStub(d.channel())


def test_ping_echoes_payload_and_time(droverd):
    before = time.time()
    r = admin(droverd).Ping(admin_pb2.PingRequest(payload=b"\x00hello\xff"), timeout=5)
    assert r.payload == b"\x00hello\xff"
    assert r.sequence == 0
    assert before - 1 <= r.server_time.ToNanoseconds() / 1e9 <= time.time() + 1


def test_status_fields(droverd):
    a = admin(droverd)
    a.Ping(admin_pb2.PingRequest(), timeout=5)
    s = a.Status(admin_pb2.StatusRequest(), timeout=5)
    assert s.version == "0.1.0"
    assert s.pid == droverd.proc.pid
    assert s.socket_path == droverd.socket
    assert s.state_dir == droverd.state_dir
    assert s.config_path == ""
    assert s.open_connections == 1
    assert s.active_calls == 1
    assert s.calls_total == 2
    assert 100_000 < s.rss_bytes < 64 << 20
    assert 0 < s.uptime.ToNanoseconds() < 600e9
    assert abs(s.started_at.ToNanoseconds() / 1e9 - time.time()) < 600


def test_ping_stream_counts_and_payload(droverd):
    msgs = list(admin(droverd).PingStream(
        admin_pb2.PingStreamRequest(count=500, payload_size=1000), timeout=10))
    assert [m.sequence for m in msgs] == list(range(1, 501))
    assert all(len(m.payload) == 1000 for m in msgs)


def test_health_check(droverd):
    h = health_pb2_grpc.HealthStub(droverd.channel())
    for svc in ["", "drover.v1.Admin", "grpc.health.v1.Health",
                "grpc.reflection.v1alpha.ServerReflection"]:
        r = h.Check(health_pb2.HealthCheckRequest(service=svc), timeout=5)
        assert r.status == health_pb2.HealthCheckResponse.SERVING, svc
    with pytest.raises(grpc.RpcError) as e:
        h.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no.such.Service" in e.value.details()


def test_health_watch(droverd):
    h = health_pb2_grpc.HealthStub(droverd.channel())
    stream = h.Watch(health_pb2.HealthCheckRequest(service=""), timeout=1)
    assert next(stream).status == health_pb2.HealthCheckResponse.SERVING
    # The stream stays open until its deadline.
    with pytest.raises(grpc.RpcError) as e:
        next(stream)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    unknown = h.Watch(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
    assert next(unknown).status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
    unknown.cancel()


def test_health_watch_sees_shutdown(droverd):
    h = health_pb2_grpc.HealthStub(droverd.channel())
    stream = h.Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert next(stream).status == health_pb2.HealthCheckResponse.SERVING
    droverd.proc.send_signal(15)
    assert next(stream).status == health_pb2.HealthCheckResponse.NOT_SERVING
    with pytest.raises(grpc.RpcError) as e:
        next(stream)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    assert droverd.wait() == 0


@pytest.mark.parametrize("pb,stub", [(r1, r1_grpc), (r1a, r1a_grpc)], ids=["v1", "v1alpha"])
def test_reflection(droverd, pb, stub):
    s = stub.ServerReflectionStub(droverd.channel())
    reqs = [
        pb.ServerReflectionRequest(list_services=""),
        pb.ServerReflectionRequest(file_containing_symbol="drover.v1.Admin"),
        pb.ServerReflectionRequest(file_containing_symbol="drover.v1.Admin.Ping"),
        pb.ServerReflectionRequest(file_containing_symbol=".drover.v1.StatusResponse"),
        pb.ServerReflectionRequest(file_by_filename="grpc/health/v1/health.proto"),
        pb.ServerReflectionRequest(file_containing_symbol="grpc.health.v1.HealthCheckResponse.ServingStatus"),
        pb.ServerReflectionRequest(file_containing_symbol="no.such.Symbol"),
        pb.ServerReflectionRequest(all_extension_numbers_of_type="drover.v1.PingRequest"),
        pb.ServerReflectionRequest(file_containing_symbol="drover.v1.Processes.KillTree"),
    ]
    out = list(s.ServerReflectionInfo(iter(reqs), timeout=10))
    assert len(out) == len(reqs)
    services = {x.name for x in out[0].list_services_response.service}
    assert services == {"drover.v1.Admin", "drover.v1.Processes", "drover.v1.Services",
                        "drover.v1.Sessions", "drover.v1.Metrics", "drover.v1.Containers",
                        "drover.v1.Images", "daemon.v1.DaemonService", "daemon.v1.MetricsService",
                        "stratavore.v1.RunnerService", "stratavore.v1.ProjectService",
                        "stratavore.v1.SessionService", "stratavore.v1.DaemonService",
                        "orchestrator.v1.OrchestratorService", "agent.v1.AgentService",
                        "gateway.v1.GatewayService", "llm.v1.LLMService", "tool.v1.ToolService",
                        "drover.v1.Agents", "grpc.health.v1.Health",
                        "grpc.reflection.v1.ServerReflection",
                        "grpc.reflection.v1alpha.ServerReflection"}

    def files(resp):
        fds = []
        for raw in resp.file_descriptor_response.file_descriptor_proto:
            fd = descriptor_pb2.FileDescriptorProto()
            fd.ParseFromString(raw)
            fds.append(fd)
        return fds

    admin_files = files(out[1])
    assert admin_files[0].name == "drover/v1/admin.proto"
    assert {f.name for f in admin_files} == {"drover/v1/admin.proto",
                                             "google/protobuf/timestamp.proto",
                                             "google/protobuf/duration.proto"}
    assert [m.name for m in admin_files[0].service[0].method] == [
        "Ping", "PingStream", "Status", "Shutdown", "Reload", "Upgrade", "Events"]
    assert files(out[2])[0].name == "drover/v1/admin.proto"
    assert files(out[3])[0].name == "drover/v1/admin.proto"
    assert files(out[4])[0].package == "grpc.health.v1"
    assert files(out[5])[0].name == "grpc/health/v1/health.proto"
    assert out[6].error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    assert "no.such.Symbol" in out[6].error_response.error_message
    assert out[7].all_extension_numbers_response.base_type_name == "drover.v1.PingRequest"
    assert out[1].original_request.file_containing_symbol == "drover.v1.Admin"


def test_hundred_concurrent_streams(droverd):
    ch = droverd.channel()
    # Connected first: calls made while grpcio connects are sent in no set order, and Status
    # could then go out before the streams.
    grpc.channel_ready_future(ch).result(timeout=10)
    a = admin_pb2_grpc.AdminStub(ch)
    streams = [a.PingStream(admin_pb2.PingStreamRequest(count=10, interval_ms=200), timeout=30)
               for _ in range(100)]
    unary = [a.Ping.future(admin_pb2.PingRequest(payload=str(i).encode()), timeout=30)
             for i in range(100)]
    # All 100 streams are in flight at once before any is drained.
    s = a.Status(admin_pb2.StatusRequest(), timeout=5)
    assert s.active_calls >= 100
    for st in streams:
        assert [m.sequence for m in st] == list(range(1, 11))
    assert [f.result().payload for f in unary] == [str(i).encode() for i in range(100)]


def test_gzip_compressed_request(droverd):
    a = admin(droverd)
    payload = b"squeeze me " * 1000
    r = a.Ping(admin_pb2.PingRequest(payload=payload), timeout=5,
               compression=grpc.Compression.Gzip)
    assert r.payload == payload


def test_binary_metadata_accepted(droverd):
    r = admin(droverd).Ping(admin_pb2.PingRequest(payload=b"x"), timeout=5,
                            metadata=[("x-trace-bin", b"\x00\x01\xfe\xff"), ("x-plain", "v")])
    assert r.payload == b"x"
