"""kinject: Istio sidecar injection at render time, as a KRM function."""

__version__ = "0.1.0"
# The Istio release whose injection templates and defaults kinject's built-in templates follow.
ISTIO_VERSION = "1.30.3 (templates follow istio/istio@86c9f01fd735)"
