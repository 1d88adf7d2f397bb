"""The few exception types kinject raises; the CLI turns each into one clear message and exit 1."""

from __future__ import annotations


class KinjectError(Exception):
    """An expected failure: bad input, bad config, an invalid annotation.

    `resource` names the object ("apps/v1 Deployment default/web"), `field` the setting or path
    (`metadata.annotations["traffic.sidecar.istio.io/includeOutboundIPRanges"]`).
    """

    def __init__(self, message: str, *, resource: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.resource = resource
        self.field = field

    def __str__(self) -> str:
        field = f"field {self.field}" if self.field and self.field not in self.message else None
        where = " ".join(p for p in (self.resource, field) if p)
        return f"{where}: {self.message}" if where else self.message


class InputError(KinjectError):
    """The input stream or ResourceList cannot be read (YAML syntax, shape, size, encoding)."""


class ConfigError(KinjectError):
    """The function config (SidecarInjector, ConfigMap, cluster ConfigMaps) is invalid."""


class InjectionError(KinjectError):
    """Injection of one workload failed (invalid annotation value, unknown template, template error)."""


class TemplateError(InjectionError):
    """A template failed to render or broke the sandbox rules."""
