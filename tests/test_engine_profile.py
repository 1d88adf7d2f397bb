"""build_profile: defaults, Helm-style values layers, MeshConfig merging, templates, errors, the cache key."""

from __future__ import annotations

import pytest

from kinject.errors import ConfigError
from kinject.inject import inject_pod
from kinject.model import PodTemplate, Workload
from kinject.profile import DEFAULT_VALUES, build_profile


def test_defaults() -> None:
    profile = build_profile()
    assert profile.values == DEFAULT_VALUES
    assert profile.default_templates == ["sidecar"]
    assert profile.policy == "enabled" and profile.native_sidecars and profile.revision == ""
    assert set(profile.templates) == {"sidecar", "gateway", "grpc-agent", "grpc-simple"}
    assert profile.user_templates == frozenset()


def test_null_leaf_removes_and_zero_string_is_a_value() -> None:
    profile = build_profile(values_layers=[
        {"global": {"proxy": {"resources": {"limits": {"cpu": None}, "requests": {"cpu": "0"}}}}},
        {"global": {"proxy": {"logLevel": "debug"}}},
    ])
    resources = profile.values["global"]["proxy"]["resources"]
    assert resources == {"requests": {"cpu": "0", "memory": "128Mi"}, "limits": {"memory": "1024Mi"}}
    assert profile.values["global"]["proxy"]["logLevel"] == "debug"
    assert DEFAULT_VALUES["global"]["proxy"]["resources"]["limits"]["cpu"] == "2000m"  # defaults untouched


def test_later_layers_win() -> None:
    profile = build_profile(values_layers=[{"global": {"hub": "a"}}, {"global": {"hub": "b"}}])
    assert profile.values["global"]["hub"] == "b"


def test_mesh_merges_default_config_field_by_field_and_providers_by_name() -> None:
    profile = build_profile(mesh_layers=[
        {"defaultConfig": {"proxyMetadata": {"A": "1"}, "tracing": {}},
         "extensionProviders": [{"name": "otel", "opentelemetry": {"port": 1}}]},
        {"defaultConfig": {"proxyMetadata": {"B": 2}, "drainDuration": "10s"},
         "extensionProviders": [{"name": "otel", "opentelemetry": {"port": 2}}, {"name": "x", "zipkin": {}}],
         "trustDomain": "example.org"},
    ])
    pc = profile.mesh["defaultConfig"]
    assert pc["proxyMetadata"] == {"A": "1", "B": "2"}
    assert pc["tracing"] == {} and pc["drainDuration"] == "10s" and pc["statusPort"] == 15020
    assert profile.mesh["extensionProviders"] == [{"name": "otel", "opentelemetry": {"port": 2}},
                                                  {"name": "x", "zipkin": {}}]
    assert profile.mesh["trustDomain"] == "example.org"


def test_injector_config_and_user_templates() -> None:
    profile = build_profile(
        templates={"sidecar": "spec: {}", "mine": "spec: {}"}, aliases={"both": ["sidecar", "mine"]},
        injector_config={"policy": "disabled", "neverInjectSelector": [{"matchLabels": {"a": "b"}}],
                         "injectedAnnotations": {"k": "v"}, "defaultTemplates": ["mine"]})
    assert profile.templates["sidecar"] == "spec: {}"
    assert profile.user_templates == frozenset({"sidecar", "mine"})
    assert profile.policy == "disabled" and profile.default_templates == ["mine"]
    assert profile.never_inject_selector == [{"matchLabels": {"a": "b"}}]
    assert profile.aliases == {"both": ["sidecar", "mine"]}
    out = inject_pod(PodTemplate({}, {"containers": [{"name": "a"}]}), Workload("v1", "Pod", "p", "d"), profile)
    assert out.metadata["annotations"]["k"] == "v"


@pytest.mark.parametrize("kwargs,field", [
    ({"values_layers": [{"global": "x"}]}, "values.global"),
    ({"values_layers": [{"global": {"proxy": []}}]}, "values.global.proxy"),
    ({"values_layers": ["x"]}, "values"),
    ({"mesh_layers": [{"defaultConfig": "x"}]}, "meshConfig.defaultConfig"),
    ({"mesh_layers": [{"extensionProviders": [{"nameless": 1}]}]}, "meshConfig.extensionProviders"),
    ({"templates": {"x": 1}}, "templates.x"),
    ({"default_templates": "sidecar,x", "aliases": {"a": 3}}, "aliases.a"),
    ({"injector_config": {"neverInjectSelector": "x"}}, "neverInjectSelector"),
    ({"injector_config": {"policy": 3}}, "policy"),
])
def test_wrong_types_raise_config_errors_naming_the_key(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_profile(**kwargs)
    assert info.value.field == field or field in info.value.message


def test_key_is_stable_and_distinguishes_configs() -> None:
    a, b = build_profile(values_layers=[{"global": {"hub": "h"}}]), build_profile(values_layers=[{"global": {"hub": "h"}}])
    assert a.key == b.key and a == b and hash(a) == hash(b)
    assert build_profile(native_sidecars=False).key != build_profile().key
    assert build_profile(revision="canary").key != build_profile().key
    assert len({a: 1, b: 2}) == 1
