"""The function config (`kinject.dev/v1alpha1 SidecarInjector`), validated at the edge, and the injector
profiles built from it and from the cluster's own ConfigMaps found in the bundle."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


from .errors import ConfigError
from .policy import DEFAULT_REVISION, NamespaceInfo, RevisionPolicy

API_VERSION = "kinject.dev/v1alpha1"
KIND = "SidecarInjector"
INJECTOR_CONFIGMAP = "istio-sidecar-injector"
MESH_CONFIGMAP = "istio"

Check = Callable[[Any, str], Any]


# --------------------------------------------------------------------------------------------- schema


def _map(value: Any, path: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a mapping, got {_kind(value)}", field=path)
    return value


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{path}: expected a string, got {_kind(value)}", field=path)
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: expected true or false, got {_kind(value)}", field=path)
    return value


def _int(value: Any, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{path}: expected a positive integer, got {_kind(value)}", field=path)
    return value


def _str_list(value: Any, path: str) -> list[str]:
    if not isinstance(value, list):
        raise ConfigError(f"{path}: expected a list of strings, got {_kind(value)}", field=path)
    return [_str(v, f"{path}[{i}]") for i, v in enumerate(value)]


def _str_map(value: Any, path: str) -> dict[str, str]:
    return {_str(k, f"{path} key"): _str(v, f"{path}.{k}") for k, v in _map(value, path).items()}


def _mesh(value: Any, path: str) -> dict:
    # Accepted as a mapping, or as the YAML text of ConfigMap istio's `data.mesh`.
    if isinstance(value, str):
        value = _load_yaml(value, path)
        if value is None:
            return {}
    return _map(value, path)


def _namespaces(value: Any, path: str) -> dict:
    out = {}
    for name, entry in _map(value, path).items():
        entry = _map(entry, f"{path}.{name}")
        _only(entry, {"labels", "annotations"}, f"{path}.{name}")
        out[_str(name, f"{path} key")] = {
            "labels": _str_map(entry.get("labels") or {}, f"{path}.{name}.labels"),
            "annotations": _str_map(entry.get("annotations") or {}, f"{path}.{name}.annotations"),
        }
    return out


def _aliases(value: Any, path: str) -> dict:
    return {_str(k, f"{path} key"): _str_list(v, f"{path}.{k}") for k, v in _map(value, path).items()}


def _templates(value: Any, path: str) -> dict:
    return _str_map(value, path)


def _platform(value: Any, path: str) -> dict:
    value = _map(value, path)
    _only(value, {"openshift"}, path)
    return {"openshift": _bool(value.get("openshift", False), f"{path}.openshift")}


def _limits(value: Any, path: str) -> dict:
    value = _map(value, path)
    _only(value, set(DEFAULT_LIMITS), path)
    return {k: _int(v, f"{path}.{k}") for k, v in value.items()}


def _injector_config(value: Any, path: str) -> dict:
    value = _map(value, path)
    _only(value, INJECTOR_CONFIG_KEYS, path)
    if "policy" in value:
        _policy(value["policy"], f"{path}.policy")
    return value


def _policy(value: Any, path: str) -> str:
    # Istio logs an error and injects nothing for any other value: in a config we write, that is a mistake.
    if value not in ("enabled", "disabled"):
        raise ConfigError(f"{path}: expected enabled or disabled, got {_kind(value)}", field=path)
    return value


def _values(value: Any, path: str) -> dict:
    value = _map(value, path)
    proxy = (value.get("global") or {}).get("proxy") if isinstance(value.get("global"), dict) else None
    if isinstance(proxy, dict) and proxy.get("autoInject") is not None:
        _policy(proxy["autoInject"], f"{path}.global.proxy.autoInject")
    return value


INJECTOR_CONFIG_KEYS = {
    "policy", "neverInjectSelector", "alwaysInjectSelector", "injectedAnnotations", "defaultTemplates",
    "aliases", "templates", "template",
}

_REVISION_SCHEMA: dict[str, Check] = {
    "values": _values,
    "meshConfig": _mesh,
    "nativeSidecars": _bool,
    "templates": _templates,
    "defaultTemplates": _str_list,
    "aliases": _aliases,
    "injectorConfig": _injector_config,
}


def _revisions(value: Any, path: str) -> dict:
    out = {}
    for name, entry in _map(value, path).items():
        name = _str(name, f"{path} key")
        out[name] = _validate(_map(entry, f"{path}.{name}"), _REVISION_SCHEMA, f"{path}.{name}")
    return out


SPEC_SCHEMA: dict[str, Check] = {
    **_REVISION_SCHEMA,
    "defaultNamespace": _str,
    "namespaces": _namespaces,
    "revisions": _revisions,
    "revisionTags": _str_map,
    "platform": _platform,
    "compliancePolicy": _str,
    "limits": _limits,
}

DEFAULT_LIMITS = {
    "maxInputBytes": 256 * 1024 * 1024,  # the largest rendered bundles we know of are ~50 MB
    "maxDepth": 200,  # Kubernetes objects nest < 30 deep
    "maxAliases": 100,  # aliases are rare in manifests; bombs use thousands
}

# Keys a ConfigMap functionConfig (kpt fn eval -- k=v, kustomize fn run -- k=v) may carry: scalars only.
_CONFIGMAP_KEYS: dict[str, Callable[[str, str], Any]] = {
    "nativeSidecars": lambda v, p: _parse_bool(v, p),
    "defaultNamespace": lambda v, p: v,
    "compliancePolicy": lambda v, p: v,
}


def _validate(spec: dict, schema: Mapping[str, Check], path: str) -> dict:
    _only(spec, set(schema), path)
    return {key: schema[key](value, f"{path}.{key}") for key, value in spec.items()}


def _only(mapping: dict, allowed: set[str], path: str) -> None:
    for key in mapping:
        if key not in allowed:
            choices = ", ".join(sorted(allowed))
            raise ConfigError(f"{path}: unknown key {key!r} (allowed: {choices})", field=f"{path}.{key}")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"[:80]
    return type(value).__name__.replace("dict", "mapping")


def _parse_bool(value: str, path: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise ConfigError(f"{path}: expected true or false, got {value!r}", field=path)


def _load_yaml(text: str, path: str) -> Any:
    """YAML found inside the input or the config (data.mesh, data.config, a ConfigMap value): parsed with the
    input's limits, so an alias bomb there is refused like one in the input."""
    from .errors import InputError
    from .limits import safe_load

    try:
        return safe_load(text, path)
    except InputError as exc:
        raise ConfigError(exc.message if exc.message.startswith(path) else f"{path}: {exc.message}",
                          field=path) from None


# --------------------------------------------------------------------------------------------- config


@dataclass
class FunctionConfig:
    """A validated SidecarInjector spec (defaults applied where the pipeline needs them)."""

    spec: dict = field(default_factory=dict)
    source: str = "defaults"

    @property
    def default_namespace(self) -> str:
        return self.spec.get("defaultNamespace", "default")

    @property
    def limits(self) -> dict:
        return {**DEFAULT_LIMITS, **self.spec.get("limits", {})}

    def namespace_infos(self) -> dict[str, NamespaceInfo]:
        return {
            name: NamespaceInfo(name, entry["labels"], entry["annotations"], "config")
            for name, entry in self.spec.get("namespaces", {}).items()
        }


def parse_function_config(data: Any, origin: str = "functionConfig") -> FunctionConfig:
    """Validate what the orchestrator sent as functionConfig (None = all defaults)."""
    if data is None:
        return FunctionConfig()
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected an object, got {_kind(data)}", field=origin)
    api_version, kind = data.get("apiVersion"), data.get("kind")
    if kind == "ConfigMap" and api_version == "v1":
        return _from_configmap(data, origin)
    if (api_version, kind) != (API_VERSION, KIND):
        raise ConfigError(
            f"{origin}: expected apiVersion {API_VERSION}, kind {KIND} (or a v1 ConfigMap), "
            f"got apiVersion {api_version!r}, kind {kind!r}",
            field=f"{origin}.kind",
        )
    _only(data, {"apiVersion", "kind", "metadata", "spec"}, origin)
    spec = data.get("spec")
    if spec is None:
        return FunctionConfig(source=origin)
    return FunctionConfig(_validate(_map(spec, f"{origin}.spec"), SPEC_SCHEMA, f"{origin}.spec"), origin)


def _from_configmap(data: dict, origin: str) -> FunctionConfig:
    values = data.get("data") or {}
    spec: dict[str, Any] = {}
    for key, raw in _map(values, f"{origin}.data").items():
        path = f"{origin}.data.{key}"
        raw = _str(raw, path)
        if key in _CONFIGMAP_KEYS:
            spec[key] = _CONFIGMAP_KEYS[key](raw, path)
        elif key.startswith("values.") and len(key) > len("values."):
            target = spec.setdefault("values", {})
            *parents, leaf = key[len("values."):].split(".")
            for part in parents:
                target = target.setdefault(part, {})
            target[leaf] = _load_yaml(raw, path)
        else:
            allowed = ", ".join([*_CONFIGMAP_KEYS, "values.<path>"])
            raise ConfigError(f"{origin}.data: unknown key {key!r} (allowed: {allowed})", field=path)
    return FunctionConfig(_validate(spec, SPEC_SCHEMA, f"{origin}.data"), origin)


def load_config_file(path: str) -> FunctionConfig:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    docs = [d for d in load_documents(text, path) if d is not None]
    if len(docs) != 1:
        raise ConfigError(f"{path}: expected one SidecarInjector document, found {len(docs)}")
    return parse_function_config(docs[0], origin=path)


def load_documents(text: str, path: str) -> list:
    """Every document of a YAML file given on the command line, as data, under the input limits (size,
    depth, aliases, duplicate keys); errors name the file."""
    from .errors import InputError
    from .limits import check_input, check_nodes
    from .yamltext import compose_all, to_data

    try:
        check_input(text, None)
        nodes = compose_all(text)
        for node in nodes:
            check_nodes(node, None, text)
        return [to_data(n) for n in nodes]
    except InputError as exc:
        raise ConfigError(f"{path}: {exc.message}") from None


# --------------------------------------------------------------------------------------------- cluster


@dataclass
class ClusterConfig:
    """What `kubectl -n istio-system get cm istio-sidecar-injector istio -o yaml` holds, per revision."""

    values: dict[str, dict] = field(default_factory=dict)  # revision -> values
    injector: dict[str, dict] = field(default_factory=dict)  # revision -> data.config
    mesh: dict[str, dict] = field(default_factory=dict)  # revision -> data.mesh
    warnings: list[str] = field(default_factory=list)

    def add_configmap(self, name: str, data: Mapping[str, Any], where: str) -> None:
        if name == INJECTOR_CONFIGMAP or name.startswith(INJECTOR_CONFIGMAP + "-"):
            revision = name[len(INJECTOR_CONFIGMAP) + 1:] or DEFAULT_REVISION
            if "values" in data:
                values = _json_or_yaml(data["values"], f"{where} data.values")
                self.values[revision] = _map(values, f"{where} data.values")
            if "config" in data:
                config = _load_yaml(_str(data["config"], f"{where} data.config"), f"{where} data.config") or {}
                config = _map(config, f"{where} data.config")
                go_templates = sorted((config.get("templates") or {}).keys())
                if go_templates:
                    self.warnings.append(
                        f"{where}: Go templates cannot run in kinject; ignored {', '.join(go_templates)} "
                        "and used kinject's built-in Jinja2 templates of the same names"
                    )
                self.injector[revision] = {k: v for k, v in config.items() if k not in ("templates", "template")}
        elif name == MESH_CONFIGMAP or name.startswith(MESH_CONFIGMAP + "-"):
            if "mesh" in data:
                revision = name[len(MESH_CONFIGMAP) + 1:] or DEFAULT_REVISION
                self.mesh[revision] = _mesh(data["mesh"], f"{where} data.mesh")


def _json_or_yaml(text: Any, path: str) -> Any:
    text = _str(text, path)
    try:
        return json.loads(text)
    except ValueError:
        return _load_yaml(text, path)


def is_cluster_configmap(name: str) -> bool:
    return name in (INJECTOR_CONFIGMAP, MESH_CONFIGMAP) or name.startswith(INJECTOR_CONFIGMAP + "-") or (
        name.startswith(MESH_CONFIGMAP + "-") and not name.startswith("istio-ca")
    )


# --------------------------------------------------------------------------------------------- profiles


@dataclass
class Profiles:
    """Every configured revision's Profile (the engine's input) and its decision settings."""

    profiles: dict[str, Any]  # revision name ("default" for the default one) -> kinject.profile.Profile
    tags: dict[str, str]

    def policies(self) -> dict[str, RevisionPolicy]:
        return {
            name: RevisionPolicy(
                policy=p.policy,
                never_inject_selector=tuple(p.never_inject_selector),
                always_inject_selector=tuple(p.always_inject_selector),
                enable_namespaces_by_default=p.enable_namespaces_by_default,
            )
            for name, p in self.profiles.items()
        }


def build_profiles(config: FunctionConfig, cluster: ClusterConfig) -> Profiles:
    from .profile import build_profile  # the engine's defaults; imported only when something is injected

    spec = config.spec
    revisions: dict[str, dict] = {DEFAULT_REVISION: {}}
    for name in [*cluster.values, *cluster.injector, *cluster.mesh]:
        revisions.setdefault(name, {})
    revisions.update(spec.get("revisions", {}))
    profiles = {}
    for name, rev_spec in revisions.items():
        where = "spec" if name == DEFAULT_REVISION else f"spec.revisions.{name}"
        values_layers = [cluster.values.get(name, {}), spec.get("values", {})]
        mesh_layers = [cluster.mesh.get(name, {}), spec.get("meshConfig", {})]
        injector = {**cluster.injector.get(name, {}), **spec.get("injectorConfig", {})}
        if name != DEFAULT_REVISION:
            values_layers.append(rev_spec.get("values", {}))
            mesh_layers.append(rev_spec.get("meshConfig", {}))
            injector.update(rev_spec.get("injectorConfig", {}))
        merged = {**spec, **rev_spec} if name != DEFAULT_REVISION else spec
        try:
            profiles[name] = build_profile(
                values_layers=[v for v in values_layers if v],
                mesh_layers=[m for m in mesh_layers if m],
                native_sidecars=merged.get("nativeSidecars", True),
                templates={**spec.get("templates", {}), **rev_spec.get("templates", {})},
                default_templates=merged.get("defaultTemplates"),
                aliases={**spec.get("aliases", {}), **rev_spec.get("aliases", {})} or None,
                injector_config={k: v for k, v in injector.items() if k not in ("templates", "template")} or None,
                revision="" if name == DEFAULT_REVISION else name,
                compliance_policy=spec.get("compliancePolicy", ""),
                openshift=spec.get("platform", {}).get("openshift", False),
            )
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc.message}", field=exc.field) from None
        _compile_user_templates(profiles[name], where)
    tags = dict(spec.get("revisionTags", {}))
    for tag, target in tags.items():
        if target not in profiles:
            raise ConfigError(
                f"spec.revisionTags.{tag}: revision {target!r} is not configured", field=f"spec.revisionTags.{tag}"
            )
    return Profiles(profiles, tags)


def _compile_user_templates(profile: Any, where: str) -> None:
    """A syntax error in a user template is reported once, naming it, instead of once per workload.
    (Built-in templates compile lazily: compiling all of them would cost every run ~80 ms.)"""
    from .errors import TemplateError
    from .render import check_templates

    # Only the user templates: compiling a built-in one would import Jinja2, which most runs (answered from
    # the render caches) never need.
    for name in sorted(profile.user_templates):
        try:
            check_templates(profile, [name])
        except TemplateError as exc:
            raise ConfigError(exc.message, field=f"{where}.templates.{name}") from None
