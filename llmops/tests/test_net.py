import pytest
from django.test import override_settings

from llmops.core.errors import ValidationFailed
from llmops.core.net import validate_outbound_url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/v1",
        "http://localhost/v1",
        "http://10.0.0.5/v1",
        "http://172.16.3.4/v1",
        "http://192.168.1.10/v1",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8000/v1",
        "http://[fd00::1]/v1",
        "http://[::ffff:127.0.0.1]/v1",
        "http://0.0.0.0/v1",
        "http://100.64.0.1/v1",
    ],
)
@override_settings(MODEL_BASE_URL_ALLOWLIST=[])
def test_non_public_addresses_are_refused(url):
    with pytest.raises(ValidationFailed) as caught:
        validate_outbound_url(url)
    assert caught.value.code == "forbidden_address"
    assert "MODEL_BASE_URL_ALLOWLIST" in caught.value.message


@pytest.mark.parametrize("url", ["ftp://example.com", "file:///etc/passwd", "http://user:pw@8.8.8.8/v1", "http://"])
def test_malformed_or_credentialed_urls_are_refused(url):
    with pytest.raises(ValidationFailed) as caught:
        validate_outbound_url(url)
    assert caught.value.code == "invalid_url"


@override_settings(MODEL_BASE_URL_ALLOWLIST=[])
def test_public_address_literal_passes():
    assert validate_outbound_url("https://8.8.8.8/v1") == "https://8.8.8.8/v1"


@override_settings(MODEL_BASE_URL_ALLOWLIST=["127.0.0.1:8080"])
def test_allow_list_by_host_and_port():
    assert validate_outbound_url("http://127.0.0.1:8080/v1")
    with pytest.raises(ValidationFailed):
        validate_outbound_url("http://127.0.0.1:9090/v1")


@override_settings(MODEL_BASE_URL_ALLOWLIST=[])
def test_unresolvable_host_is_named():
    with pytest.raises(ValidationFailed, match="does not resolve"):
        validate_outbound_url("http://no-such-host.invalid/v1")
