"""Reading what the stream commands (inject, explain, check, diff, uninject) are given, and the options they
share: files or stdin, a ResourceList or a plain YAML stream alike, the function config and namespace flags."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from yaml.nodes import MappingNode, SequenceNode

from .config import ClusterConfig, FunctionConfig, load_config_file, load_documents, parse_function_config
from .errors import ConfigError, InputError
from .pipeline import Source
from .policy import NamespaceInfo
from .limits import read_limited
from .stream import decode, load
from .yamltext import mapping_get, scalar_at, to_data


@dataclass
class Options:
    files: list[str] = field(default_factory=list)
    config: str | None = None
    namespace: str | None = None
    namespace_labels: str | None = None
    injector_config: str | None = None
    values: str | None = None
    mesh_config: str | None = None


@dataclass
class Inputs:
    sources: list[Source]
    paths: list[str | None]  # file path per source (None = stdin)
    config: FunctionConfig
    namespace: str
    extra_namespaces: dict[str, NamespaceInfo]
    cluster: ClusterConfig


def read(options: Options, *, lean: bool = False) -> Inputs:
    config = load_config_file(options.config) if options.config else None
    sources: list[Source] = []
    paths: list[str | None] = []
    names = options.files or ["-"]
    for name in names:
        limits = config.limits if config else None
        if name == "-":
            data, label, path = read_limited(sys.stdin.buffer, "stdin", limits), "stdin", None
        else:
            try:
                with open(name, "rb") as fh:
                    data = read_limited(fh, name, limits)
            except OSError as exc:
                raise InputError(f"cannot read {name}: {exc.strerror}") from None
            label, path = name, name
        source = load(label, decode(data, label), config.limits if config else None, lean=lean)
        embedded = _unwrap_resource_list(source)
        if embedded is not None and config is None:
            config = embedded
        sources.append(source)
        paths.append(path)
    config = config or FunctionConfig()
    if not any(s.objects or s.spans for s in sources):
        raise InputError("no Kubernetes objects in the input (refusing to write an empty stream)")
    namespace = options.namespace or os.environ.get("HELM_NAMESPACE") or config.default_namespace
    extra = {}
    if options.namespace_labels:
        extra[namespace] = NamespaceInfo(namespace, parse_labels(options.namespace_labels), {}, "flag")
    cluster = ClusterConfig()
    for flag, path in (("--injector-config", options.injector_config), ("--values", options.values),
                       ("--mesh-config", options.mesh_config)):
        if path:
            _add_cluster_file(cluster, flag, path)
    return Inputs(sources, paths, config, namespace, extra, cluster)


def parse_labels(text: str) -> dict[str, str]:
    labels = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--namespace-labels: expected KEY=VALUE[,KEY=VALUE], got {part!r}",
                              field="--namespace-labels")
        labels[key.strip()] = value.strip()
    return labels


def _unwrap_resource_list(source: Source) -> FunctionConfig | None:
    """A ResourceList given to a stream command: work on its items (and honour its functionConfig)."""
    if len(source.objects) != 1 or not isinstance(source.objects[0], MappingNode):
        return None
    root = source.objects[0]
    if scalar_at(root, "kind") != "ResourceList" or not (scalar_at(root, "apiVersion") or "").startswith(
        "config.kubernetes.io/"
    ):
        return None
    items = mapping_get(root, "items")
    source.objects = list(items.value) if isinstance(items, SequenceNode) else []
    source.labels = [f"{source.name} items[{i}]" for i in range(len(source.objects))]
    fc = mapping_get(root, "functionConfig")
    return parse_function_config(to_data(fc)) if fc is not None else None


def _add_cluster_file(cluster: ClusterConfig, flag: str, path: str) -> None:
    """`istioctl kube-inject`-style offline files: the ConfigMap as `kubectl get -o yaml` prints it (or a List
    of them), or the bare content of its data key."""
    try:
        with open(path, "rb") as fh:
            text = decode(fh.read(), path)
    except OSError as exc:
        raise ConfigError(f"{flag}: cannot read {path}: {exc.strerror}") from None
    docs = load_documents(text, path)
    configmaps = []
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "List":
            configmaps += [d for d in doc.get("items") or [] if isinstance(d, dict) and d.get("kind") == "ConfigMap"]
        elif isinstance(doc, dict) and doc.get("kind") == "ConfigMap":
            configmaps.append(doc)
    if configmaps:
        for cm in configmaps:
            name = (cm.get("metadata") or {}).get("name", "")
            cluster.add_configmap(name, cm.get("data") or {}, f"{path}: ConfigMap {name}")
        return
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise ConfigError(f"{flag}: {path} holds neither a ConfigMap nor a single mapping")
    import json

    from .config import INJECTOR_CONFIGMAP, MESH_CONFIGMAP

    if flag == "--values":
        cluster.add_configmap(INJECTOR_CONFIGMAP, {"values": json.dumps(docs[0])}, path)
    elif flag == "--injector-config":
        import yaml

        cluster.add_configmap(INJECTOR_CONFIGMAP, {"config": yaml.safe_dump(docs[0])}, path)
    else:
        cluster.add_configmap(MESH_CONFIGMAP, {"mesh": docs[0]}, path)
