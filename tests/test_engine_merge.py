"""Strategic merge patch for pod specs (reference §2.13): merge keys, ordering, directives, nulls."""

from __future__ import annotations

import copy

from kinject.merge import clone, copy_data, merge_pod, strategic_merge, POD_SPEC_SCHEMA


def names(items: list) -> list:
    return [i["name"] for i in items]


def test_new_patch_items_come_before_untouched_original_items() -> None:
    pod = {"spec": {"volumes": [{"name": "data", "emptyDir": {}}]}}
    merge_pod(pod, {"spec": {"volumes": [{"name": "istio-envoy"}, {"name": "istio-data"}]}})
    assert names(pod["spec"]["volumes"]) == ["istio-envoy", "istio-data", "data"]


def test_untouched_item_keeps_its_place_before_a_later_matched_item() -> None:
    original = [{"name": "A"}, {"name": "B"}, {"name": "C"}]
    pod = {"spec": {"containers": original}}
    merge_pod(pod, {"spec": {"containers": [{"name": "X"}, {"name": "C", "image": "c2"}]}})
    # A and B come before C in the original; X is new so it goes first.
    assert names(pod["spec"]["containers"]) == ["X", "A", "B", "C"]
    assert pod["spec"]["containers"][3]["image"] == "c2"


def test_env_order_when_patch_reorders_existing_entries() -> None:
    pod = {"spec": {"containers": [{"name": "p", "env": [
        {"name": "JWT"}, {"name": "A"}, {"name": "CPU"}, {"name": "B"}, {"name": "PROBERS"}]}]}}
    merge_pod(pod, {"spec": {"containers": [{"name": "p", "env": [{"name": "A", "value": "1"}, {"name": "B"}]}]}})
    assert names(pod["spec"]["containers"][0]["env"]) == ["JWT", "A", "CPU", "B", "PROBERS"]
    assert pod["spec"]["containers"][0]["env"][1]["value"] == "1"


def test_scalar_lists_and_unknown_lists_are_replaced() -> None:
    pod = {"spec": {"containers": [{"name": "p", "args": ["a", "b"], "securityContext": {
        "capabilities": {"drop": ["ALL"], "add": ["X"]}}}], "tolerations": [{"key": "a"}]}}
    merge_pod(pod, {"spec": {"containers": [{"name": "p", "args": ["c"], "securityContext": {
        "capabilities": {"add": ["NET_ADMIN"]}}}], "tolerations": [{"key": "b"}]}})
    container = pod["spec"]["containers"][0]
    assert container["args"] == ["c"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN"]}
    assert pod["spec"]["tolerations"] == [{"key": "b"}]


def test_volume_mounts_merge_by_mount_path_and_ports_by_container_port() -> None:
    pod = {"spec": {"containers": [{"name": "p", "volumeMounts": [{"name": "a", "mountPath": "/a"}],
                                    "ports": [{"containerPort": 80, "name": "http"}]}]}}
    merge_pod(pod, {"spec": {"containers": [{"name": "p", "volumeMounts": [
        {"name": "a", "mountPath": "/a", "readOnly": True}, {"name": "b", "mountPath": "/b"}],
        "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}})
    container = pod["spec"]["containers"][0]
    assert container["volumeMounts"] == [{"name": "a", "mountPath": "/a", "readOnly": True},
                                         {"name": "b", "mountPath": "/b"}]
    assert container["ports"] == [{"containerPort": 80, "name": "http", "protocol": "TCP"}]


def test_null_deletes_a_key_and_is_dropped_inside_new_items() -> None:
    pod = {"metadata": {"annotations": {"a": "1", "b": "2"}}, "spec": {}}
    merge_pod(pod, {"metadata": {"annotations": {"a": None}},
                    "spec": {"volumes": [{"name": "workload-socket", "emptyDir": None}]}})
    assert pod["metadata"]["annotations"] == {"b": "2"}
    assert pod["spec"]["volumes"] == [{"name": "workload-socket"}]


def test_patch_directives_replace_and_delete() -> None:
    pod = {"spec": {"containers": [{"name": "a", "env": [{"name": "X"}]}, {"name": "b"}],
                    "securityContext": {"runAsUser": 1, "fsGroup": 2}}}
    merge_pod(pod, {"spec": {"containers": [{"name": "b", "$patch": "delete"}],
                             "securityContext": {"$patch": "replace", "runAsUser": 5}}})
    assert names(pod["spec"]["containers"]) == ["a"]
    assert pod["spec"]["securityContext"] == {"runAsUser": 5}
    merge_pod(pod, {"spec": {"containers": [{"$patch": "replace"}, {"name": "only"}]}})
    assert names(pod["spec"]["containers"]) == ["only"]


def test_map_delete_directive_removes_the_map() -> None:
    pod = {"spec": {"containers": [{"name": "a", "lifecycle": {"preStop": {}}}]}}
    merge_pod(pod, {"spec": {"containers": [{"name": "a", "lifecycle": {"$patch": "delete"}}]}})
    assert "lifecycle" not in pod["spec"]["containers"][0]


def test_patch_is_never_mutated_or_aliased() -> None:
    patch = {"spec": {"containers": [{"name": "p", "env": [{"name": "A", "value": "1"}]}],
                      "volumes": [{"name": "v", "emptyDir": {}}]}}
    snapshot = copy.deepcopy(patch)
    first, second = {"spec": {}}, {"spec": {"containers": [{"name": "p"}]}}
    merge_pod(first, patch)
    merge_pod(second, patch)
    first["spec"]["containers"][0]["env"][0]["value"] = "changed"
    first["spec"]["volumes"][0]["emptyDir"]["medium"] = "Memory"
    assert patch == snapshot
    assert second["spec"]["containers"][0]["env"][0]["value"] == "1"


def test_reapplying_a_patch_whose_items_exist_keeps_the_order() -> None:
    pod = {"spec": {"initContainers": [{"name": "istio-init"}, {"name": "istio-proxy"}, {"name": "user"}]}}
    merge_pod(pod, {"spec": {"initContainers": [{"name": "istio-proxy", "tty": True}]}})
    assert names(pod["spec"]["initContainers"]) == ["istio-init", "istio-proxy", "user"]


def test_helpers_copy_plain_data() -> None:
    data = {"a": [{"b": None, "c": 1}], "$retainKeys": ["x"]}
    assert copy_data(data) == {"a": [{"c": 1}]}
    cloned = clone(data)
    cloned["a"][0]["c"] = 2
    assert data["a"][0]["c"] == 1
    assert strategic_merge({"env": [{"name": "A"}]}, {"env": [{"name": "B"}]}, POD_SPEC_SCHEMA["containers"][1]) == \
        {"env": [{"name": "B"}, {"name": "A"}]}
