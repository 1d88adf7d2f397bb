"""Proxy image names (Istio's ProxyImage/updateImageTypeIfPresent rules)."""

import pytest

from kinject.template_data import image_url


@pytest.mark.parametrize(
    "tag,image_type,expected",
    [
        ("1.30.3", "", "hub/proxyv2:1.30.3"),
        ("1.30.3-distroless", "", "hub/proxyv2:1.30.3-distroless"),  # no type asked: the tag as written
        ("1.30.3-distroless", "default", "hub/proxyv2:1.30.3"),
        ("1.30.3-distroless", "debug", "hub/proxyv2:1.30.3-debug"),
        ("1.30.3", "distroless", "hub/proxyv2:1.30.3-distroless"),
        (1.3, "", "hub/proxyv2:1.3"),
    ],
)
def test_image_type_rules(tag, image_type, expected):
    assert image_url("hub", "proxyv2", tag, image_type) == expected


def test_a_name_with_a_slash_is_used_verbatim():
    assert image_url("hub", "my.registry/proxy:x", "1.30.3", "debug") == "my.registry/proxy:x"
