"""Probe rewriting (reference §2.9)."""

from __future__ import annotations

import json

from kinject.post.probes import PROBERS_ENV, apply_probe_rewrite, dump_app_probers


def pod_spec() -> dict:
    return {
        "initContainers": [{"name": "side", "restartPolicy": "Always",
                            "readinessProbe": {"tcpSocket": {"port": 7000}}}],
        "containers": [
            {"name": "app", "ports": [{"name": "http", "containerPort": 80}],
             "livenessProbe": {"httpGet": {"port": "http", "path": "/live", "scheme": "HTTPS",
                                           "httpHeaders": [{"name": "h", "value": "v"}]},
                               "timeoutSeconds": 5, "periodSeconds": 7},
             "readinessProbe": {"httpGet": {"port": "missing"}},
             "startupProbe": {"grpc": {"port": 9000}},
             "lifecycle": {"preStop": {"httpGet": {"port": 91}}, "postStart": {"exec": {"command": ["x"]}}}},
            {"name": "done", "readinessProbe": {"httpGet": {"port": 15020, "path": "/app-health/done/readyz"}}},
        ],
    }


def test_dump_resolves_named_ports_and_skips_exec_and_rewritten_probes() -> None:
    probers = dump_app_probers(pod_spec(), 15020)
    assert probers == {
        "/app-health/side/readyz": {"tcpSocket": {"port": 7000}},
        "/app-health/app/livez": {"httpGet": {"path": "/live", "port": 80, "scheme": "HTTPS",
                                              "httpHeaders": [{"name": "h", "value": "v"}]}, "timeoutSeconds": 5},
        "/app-health/app/startupz": {"grpc": {"port": 9000}},
        "/app-lifecycle/app/prestopz": {"httpGet": {"port": 91}},
    }


def test_rewrite_points_probes_at_the_status_port_and_keeps_other_fields() -> None:
    spec = pod_spec()
    proxy = {"name": "istio-proxy", "env": []}
    apply_probe_rewrite(spec, proxy, 15020)
    app = spec["containers"][0]
    assert app["livenessProbe"] == {"httpGet": {"port": 15020, "path": "/app-health/app/livez", "scheme": "HTTP",
                                                "httpHeaders": [{"name": "h", "value": "v"}]},
                                    "timeoutSeconds": 5, "periodSeconds": 7}
    # An unresolvable named port is not recorded, but the probe is still rewritten (Istio quirk).
    assert app["readinessProbe"] == {"httpGet": {"port": 15020, "path": "/app-health/app/readyz"}}
    assert app["startupProbe"] == {"httpGet": {"path": "/app-health/app/startupz", "port": 15020}}
    assert app["lifecycle"]["preStop"] == {"httpGet": {"port": 15020, "path": "/app-lifecycle/app/prestopz"}}
    assert app["lifecycle"]["postStart"] == {"exec": {"command": ["x"]}}
    assert spec["initContainers"][0]["readinessProbe"] == {"httpGet": {"path": "/app-health/side/readyz", "port": 15020}}
    env = {e["name"]: e["value"] for e in proxy["env"]}
    assert set(json.loads(env[PROBERS_ENV])) == {"/app-health/side/readyz", "/app-health/app/livez",
                                                  "/app-health/app/startupz", "/app-lifecycle/app/prestopz"}


def test_existing_probers_env_is_merged_and_old_entries_win() -> None:
    spec = {"containers": [{"name": "app", "livenessProbe": {"httpGet": {"port": 81}},
                            "readinessProbe": {"httpGet": {"port": 82}}}]}
    old = {"/app-health/app/livez": {"httpGet": {"port": 1}}, "/app-health/gone/readyz": {"httpGet": {"port": 2}}}
    proxy = {"name": "istio-proxy", "env": [{"name": PROBERS_ENV, "value": json.dumps(old)}, {"name": "Z"}]}
    apply_probe_rewrite(spec, proxy, 15020)
    merged = json.loads(proxy["env"][0]["value"])
    assert merged == {**{"/app-health/app/readyz": {"httpGet": {"port": 82}}}, **old}
    assert [e["name"] for e in proxy["env"]] == [PROBERS_ENV, "Z"]


def test_nothing_to_record_adds_no_env() -> None:
    proxy = {"name": "istio-proxy"}
    apply_probe_rewrite({"containers": [{"name": "a"}]}, proxy, 15020)
    assert "env" not in proxy
