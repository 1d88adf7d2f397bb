"""The effective injector configuration of one revision (values + mesh + injector config + templates).

Built once per function run and shared by every workload of that revision; `Profile.key` is a stable string
so the pipeline (and the render cache) can key on it cheaply.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .digest import sha256_hex
from .errors import ConfigError

BUILTIN_TEMPLATE_NAMES = ("sidecar", "gateway", "grpc-agent", "grpc-simple")
TEMPLATES_ANNOTATION = "inject.istio.io/templates"  # the pod's choice of templates (comma list)

# Injector values the templates read (istiod chart `_internal_defaults_do_not_set`, reduced the way the
# chart's injector ConfigMap reduces it). Release charts use hub docker.io/istio and the release tag;
# the conformance corpus overrides both.
DEFAULT_VALUES: dict[str, Any] = {
    "revision": "",
    "pilot": {"cni": {"enabled": False, "provider": "default"}, "env": {}},
    "gateways": {"securityContext": {}, "seccompProfile": {}},
    "sidecarInjectorWebhook": {
        "alwaysInjectSelector": [],
        "neverInjectSelector": [],
        "injectedAnnotations": {},
        "enableNamespacesByDefault": False,
        "reinvocationPolicy": "Never",
        "rewriteAppHTTPProbe": True,
        "templates": {},
        "defaultTemplates": [],
    },
    "global": {
        "hub": "docker.io/istio",
        "tag": "1.30.3",
        "variant": "",
        "imagePullPolicy": "",
        "imagePullSecrets": [],
        "istioNamespace": "istio-system",
        "logAsJson": False,
        "nativeNftables": False,
        "logging": {"level": "default:info"},
        "meshID": "",
        "mountMtlsCerts": False,
        "multiCluster": {"clusterName": ""},
        "network": "",
        "pilotCertProvider": "istiod",
        "caAddress": "",
        "caName": "",
        "remotePilotAddress": "",
        "sds": {"token": {"aud": "istio-ca"}},
        "sts": {"servicePort": 0},
        "proxy": {
            "image": "proxyv2",
            "autoInject": "enabled",
            "clusterDomain": "cluster.local",
            "componentLogLevel": "misc:error",
            "logLevel": "warning",
            "excludeInboundPorts": "",
            "includeInboundPorts": "*",
            "includeIPRanges": "*",
            "excludeIPRanges": "",
            "includeOutboundPorts": "",
            "excludeOutboundPorts": "",
            "outlierLogPath": "",
            "privileged": False,
            "seccompProfile": {},
            "readinessFailureThreshold": 4,
            "readinessInitialDelaySeconds": 0,
            "readinessPeriodSeconds": 15,
            "startupProbe": {"enabled": True, "failureThreshold": 600},
            "resources": {
                "requests": {"cpu": "100m", "memory": "128Mi"},
                "limits": {"cpu": "2000m", "memory": "1024Mi"},
            },
            "statusPort": 15020,
            "tracer": "none",
        },
        "proxy_init": {"image": "proxyv2", "forceApplyIptables": False},
    },
}

# mesh.DefaultProxyConfig(): PROXY_CONFIG only lists fields that differ from this.
DEFAULT_PROXY_CONFIG: dict[str, Any] = {
    "configPath": "./etc/istio/proxy",
    "binaryPath": "/usr/local/bin/envoy",
    "serviceCluster": "istio-proxy",
    "drainDuration": "45s",
    "terminationDrainDuration": "5s",
    "proxyAdminPort": 15000,
    "controlPlaneAuthPolicy": "MUTUAL_TLS",
    "discoveryAddress": "istiod.istio-system.svc:15012",
    "tracing": {"zipkin": {"address": "zipkin.istio-system:9411"}},
    "statNameLength": 189,
    "statusPort": 15020,
}

DEFAULT_MESH: dict[str, Any] = {
    "trustDomain": "cluster.local",
    "rootNamespace": "istio-system",
    "enablePrometheusMerge": True,
    "defaultProviders": {"metrics": ["prometheus"]},
    "proxyListenPort": 15001,
    "proxyInboundListenPort": 15006,
    "inboundTrafficPolicy": {"mode": "PASSTHROUGH"},
    "extensionProviders": [],
    "defaultConfig": DEFAULT_PROXY_CONFIG,
}

# ProxyConfig fields that are protobuf maps: a later layer merges into them key by key.
PROXY_CONFIG_MAP_FIELDS = frozenset({"proxyMetadata", "runtimeValues"})


@dataclass
class Profile:
    """The effective injector configuration of ONE revision."""

    values: dict
    mesh: dict
    native_sidecars: bool
    templates: dict[str, str]
    user_templates: frozenset[str]
    default_templates: list[str]
    aliases: dict[str, list[str]]
    revision: str
    compliance_policy: str
    openshift: bool
    policy: str
    never_inject_selector: list[dict]
    always_inject_selector: list[dict]
    injected_annotations: dict[str, str]
    enable_namespaces_by_default: bool
    key: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.key:
            self.key = _profile_key(self)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Profile) and other.key == self.key


def _profile_key(p: Profile) -> str:
    """A stable digest of everything that can change a render (json with sorted keys, then sha256)."""
    payload = json.dumps(
        [p.values, p.mesh, p.native_sidecars, p.templates, sorted(p.user_templates), p.default_templates,
         p.aliases, p.revision, p.compliance_policy, p.openshift, p.policy, p.never_inject_selector,
         p.always_inject_selector, p.injected_annotations, p.enable_namespaces_by_default],
        sort_keys=True, separators=(",", ":"), default=str,
    )
    return sha256_hex(payload, 32)


def merge_values(base: Mapping, layer: Mapping, path: str = "values") -> dict:
    """Helm-style deep merge: maps merge key by key, a None leaf removes the key, anything else replaces."""
    if not isinstance(layer, Mapping):
        raise ConfigError(f"{path} must be a mapping, got {type(layer).__name__}", field=path)
    out = dict(base)
    for key, value in layer.items():
        if not isinstance(key, str):
            raise ConfigError(f"{path} has a non-string key {key!r}", field=path)
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_values(out[key], value, f"{path}.{key}")
        elif isinstance(value, Mapping):
            out[key] = merge_values({}, value, f"{path}.{key}")
        else:
            out[key] = value
    return out


def merge_proxy_config(base: Mapping, layer: Mapping, path: str = "defaultConfig") -> dict:
    """Apply a ProxyConfig fragment like protobuf JSON does: fields replace, map fields merge key by key.

    An explicitly empty message (`tracing: {}`) counts as set and replaces the default message.
    """
    if not isinstance(layer, Mapping):
        raise ConfigError(f"{path} must be a mapping, got {type(layer).__name__}", field=path)
    out = dict(base)
    for key, value in layer.items():
        if key in PROXY_CONFIG_MAP_FIELDS and value is not None:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{path}.{key} must be a mapping of strings", field=f"{path}.{key}")
            out[key] = {**(out.get(key) or {}), **{str(k): _proto_string(v) for k, v in value.items()}}
        elif value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _proto_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def merge_mesh(base: Mapping, layer: Mapping, path: str = "meshConfig") -> dict:
    """Apply a MeshConfig fragment the way Istio applies ConfigMap `istio`: defaultConfig merges field by
    field, extensionProviders merge by name, every other field replaces."""
    if not isinstance(layer, Mapping):
        raise ConfigError(f"{path} must be a mapping, got {type(layer).__name__}", field=path)
    out = dict(base)
    for key, value in layer.items():
        if key == "defaultConfig":
            out[key] = merge_proxy_config(out.get(key) or {}, value or {}, f"{path}.defaultConfig")
        elif key == "extensionProviders":
            out[key] = _merge_providers(out.get(key) or [], value or [], f"{path}.extensionProviders")
        elif value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _merge_providers(base: list, layer: Any, path: str) -> list:
    if not isinstance(layer, list):
        raise ConfigError(f"{path} must be a list", field=path)
    merged = list(base)
    for provider in layer:
        if not isinstance(provider, Mapping) or not isinstance(provider.get("name"), str):
            raise ConfigError(f"{path} entries must be mappings with a name", field=path)
        index = next((i for i, p in enumerate(merged) if p.get("name") == provider["name"]), None)
        if index is None:
            merged.append(dict(provider))
        else:
            merged[index] = dict(provider)
    return merged


def builtin_template_source(name: str) -> str:
    # The kinject.templates package is a plain directory (wheel or editable install); reading it directly
    # spares the fn path importlib.resources (~2 MB of resident memory).
    from . import templates

    with open(os.path.join(os.path.dirname(templates.__file__), f"{name}.yaml.j2"), encoding="utf-8") as fh:
        return fh.read()


def _string_list(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{name} must be a list of strings", field=name)
    return list(value)


def _selectors(value: Any, name: str) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ConfigError(f"{name} must be a list of label selectors", field=name)
    return [dict(v) for v in value]


def _aliases(value: Any, name: str) -> dict[str, list[str]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must be a mapping of name -> list of template names", field=name)
    return {str(k): _string_list(v, f"{name}.{k}") for k, v in value.items()}


def _string_map(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must be a mapping of strings", field=name)
    return {str(k): str(v) for k, v in value.items()}


def build_profile(*, values_layers: Iterable[dict] = (), mesh_layers: Iterable[dict] = (),
                  native_sidecars: bool = True, templates: dict[str, str] | None = None,
                  default_templates: list[str] | None = None, aliases: dict | None = None,
                  injector_config: dict | None = None, revision: str = "", compliance_policy: str = "",
                  openshift: bool = False) -> Profile:
    """Combine defaults and the user's layers (later layers win) into one Profile."""
    values: dict = DEFAULT_VALUES
    for i, layer in enumerate(values_layers):
        values = merge_values(values, layer or {}, f"values[{i}]" if i else "values")
    mesh: dict = DEFAULT_MESH
    for i, layer in enumerate(mesh_layers):
        mesh = merge_mesh(mesh, layer or {}, f"meshConfig[{i}]" if i else "meshConfig")
    _check_types(values, mesh)

    config = injector_config or {}
    if not isinstance(config, Mapping):
        raise ConfigError("injector config must be a mapping", field="config")
    webhook = values.get("sidecarInjectorWebhook") or {}
    proxy = values["global"].get("proxy") or {}

    sources = {name: builtin_template_source(name) for name in BUILTIN_TEMPLATE_NAMES}
    user: set[str] = set()
    for origin, extra in (("values.sidecarInjectorWebhook.templates", webhook.get("templates")),
                          ("templates", templates)):
        for name, source in (extra or {}).items():
            if not isinstance(source, str):
                raise ConfigError(f"{origin}.{name} must be a template string", field=f"{origin}.{name}")
            sources[name] = source
            user.add(name)

    chosen_defaults = (default_templates if default_templates is not None
                       else config.get("defaultTemplates") or webhook.get("defaultTemplates") or ["sidecar"])
    policy = config.get("policy", proxy.get("autoInject", "enabled"))
    if not isinstance(policy, str):
        raise ConfigError("policy must be a string (enabled or disabled)", field="policy")
    merged_aliases = {**_aliases(config.get("aliases"), "config.aliases"), **_aliases(aliases, "aliases")}
    if not isinstance(revision, str):
        raise ConfigError("revision must be a string", field="revision")
    return Profile(
        values=values,
        mesh=mesh,
        native_sidecars=bool(native_sidecars),
        templates=sources,
        user_templates=frozenset(user),
        default_templates=_string_list(chosen_defaults, "defaultTemplates"),
        aliases=merged_aliases,
        revision=revision or str(values.get("revision") or ""),
        compliance_policy=str(compliance_policy or ""),
        openshift=bool(openshift),
        policy=policy,
        never_inject_selector=_selectors(config.get("neverInjectSelector", webhook.get("neverInjectSelector")),
                                         "neverInjectSelector"),
        always_inject_selector=_selectors(config.get("alwaysInjectSelector", webhook.get("alwaysInjectSelector")),
                                          "alwaysInjectSelector"),
        injected_annotations=_string_map(config.get("injectedAnnotations", webhook.get("injectedAnnotations")),
                                         "injectedAnnotations"),
        enable_namespaces_by_default=bool(webhook.get("enableNamespacesByDefault", False)),
    )


_TYPED_VALUES = {
    ("global",): dict, ("global", "proxy"): dict, ("global", "proxy_init"): dict, ("pilot",): dict,
    ("global", "proxy", "resources"): dict, ("global", "imagePullSecrets"): list,
    ("sidecarInjectorWebhook",): dict, ("global", "proxy", "startupProbe"): dict,
    ("global", "hub"): str, ("global", "proxy", "image"): str, ("global", "proxy_init", "image"): str,
}


def _check_types(values: dict, mesh: dict) -> None:
    for path, expected in _TYPED_VALUES.items():
        node: Any = values
        for part in path:
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is not None and not isinstance(node, expected):
            raise ConfigError(f"values.{'.'.join(path)} must be a {expected.__name__}", field="values." + ".".join(path))
    if not isinstance(values.get("global"), dict):
        raise ConfigError("values.global must be a mapping", field="values.global")
    if not isinstance(mesh.get("defaultConfig"), dict):
        raise ConfigError("meshConfig.defaultConfig must be a mapping", field="meshConfig.defaultConfig")
