"""The HTTP tier's allow-list for AEGIS's calls as rendered into haproxy.cfg, and the admin frontend beside it.

Their behaviour is tested on real HAProxy in tests/integration/test_aegis_calls.py and test_tier_allow_list.py.
"""

import re

from components.healthcheck.wire import FILER_BACKEND
from components.model.aegis import calls
from components.model.aegis.calls import (
    DELETE_REFUSED,
    MKDIR_ANSWERED,
    QUOTA_NOT_ENFORCED,
    TOO_LARGE,
    USAGE_NOT_TRACKED,
    aegis_call_rules,
)
from components.model.haproxy import render_haproxy_cfg

CFG = render_haproxy_cfg(["f:8888"], bind="0.0.0.0", port=8888, stats_bind="0.0.0.0", stats_port=8404, admin_port=8889)


def sections(cfg: str) -> dict[str, str]:
    """haproxy.cfg by section header ("frontend filer", ...)."""
    parts = re.split(r"^(\S.*)$", cfg, flags=re.MULTILINE)
    return {header.strip(): body for header, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_rules_sit_in_the_filer_frontend_only_before_the_backend_choice():
    cfg = sections(CFG)
    filer = cfg["frontend filer"]
    assert aegis_call_rules() in filer
    assert filer.index("http-request") < filer.index("default_backend filers")
    assert "aegis" not in cfg["frontend stats"] and "aegis" not in cfg["backend filers"]


def test_the_admin_frontend_passes_the_filers_api_unchanged_on_its_own_port():
    admin = sections(CFG)["frontend admin"]
    assert "bind 0.0.0.0:8889" in admin and f"default_backend {FILER_BACKEND}" in admin
    assert "http-request" not in admin


def test_every_answer_is_one_line_of_text_naming_the_limit():
    rules = aegis_call_rules()
    answered = ((200, QUOTA_NOT_ENFORCED), (404, USAGE_NOT_TRACKED), (201, MKDIR_ANSWERED))
    for status, text in answered:
        assert f'return status {status} content-type text/plain string "{text}"' in rules
    refused = [(403, DELETE_REFUSED), (413, TOO_LARGE)]
    refused += [(403, getattr(calls, name)) for name in ("METHOD_REFUSED", "PATH_UNSAFE", "QUERY_REFUSED")]
    refused += [(403, calls.OUTSIDE_VOLUMES), (400, calls.CHUNKED_REFUSED)]
    for status, text in refused:
        assert "\n" not in text
        assert f'deny deny_status {status} content-type text/plain string "{text}"' in rules


def test_everything_is_checked_before_anything_is_rewritten():
    lines = aegis_call_rules().splitlines()
    denies = [i for i, line in enumerate(lines) if "http-request deny" in line or "http-request return" in line]
    rewrites = [i for i, line in enumerate(lines) if "set-path" in line or "set-query" in line]
    assert max(denies) < min(rewrites)


def test_the_delete_is_rewritten_only_for_aegis_form_and_into_a_recursive_delete():
    rules = aegis_call_rules()
    assert "http-request set-path %[var(txn.aegis_volume)] if aegis_volume_delete" in rules
    assert "http-request set-query recursive=true if aegis_volume_delete" in rules
    setter = next(line for line in rules.splitlines() if "set-var(txn.aegis_volume)" in line)
    assert setter.endswith("if aegis_dir_delete aegis_dir_api")


def test_tenants_and_volumes_follow_aegis_own_validation():
    tenant, volume = re.compile(f"^{calls.TENANT}$"), re.compile(f"^{calls.VOLUME_ID}$")
    for good in ("zaru-consumer", "aegis-system", "a", "u-" + "0" * 32, "xn--bcher-kva", "t-" + "x" * 61):
        assert tenant.match(good), good
    for bad in ("", "-a", "a-", "Zaru", "a_b", "a.b", "x" * 64, "..", "%2e"):
        assert not tenant.match(bad), bad
    assert volume.match("0b7e2c1a-0000-4000-8000-000000000001")
    assert not volume.match("0B7E2C1A-0000-4000-8000-000000000001") and not volume.match("vol-abc")


def test_the_body_limit_is_the_largest_file_aegis_reads_back():
    assert calls.MAX_BODY_BYTES == 104857600
    assert "{ req.hdr_val(content-length) gt 104857600 }" in aegis_call_rules()


def test_the_filers_sit_in_the_backend_the_readers_of_haproxy_stats_look_in():
    cfg = sections(CFG)
    assert f"default_backend {FILER_BACKEND}" in cfg["frontend filer"]
    assert "server" in cfg[f"backend {FILER_BACKEND}"]


def test_usage_and_quota_calls_go_to_the_usage_service_beside_haproxy_while_it_is_up():
    rules = aegis_call_rules()
    assert rules.rstrip().endswith("use_backend usage if aegis_usage_call")
    # Answered by HAProxy itself only when not routed, and never refused as a query or a path outside volumes.
    assert f'string "{QUOTA_NOT_ENFORCED}" if {{ method POST }} {{ path /quota }} !aegis_usage_call' in rules
    assert f'string "{USAGE_NOT_TRACKED}" if {{ method GET HEAD }} {{ path /dir/status }} !aegis_usage_call' in rules
    assert all("!aegis_usage_call" in line for line in rules.splitlines() if "QUERY" in line or "not below" in line)
    usage = sections(CFG)["backend usage"]
    # The service on 127.0.0.1 (HAProxy binds 0.0.0.0), marked down at the first refused connection; the
    # backup is HAProxy's own filer frontend, which answers the call itself while the service is down.
    assert "server usage 127.0.0.1:8890 check observe layer4 error-limit 1 on-error mark-down" in usage
    assert "server fixed 127.0.0.1:8888 backup" in usage
    loopback = render_haproxy_cfg(["f:8888"], bind="127.0.3.51", port=8888, stats_bind="127.0.3.51", stats_port=8404)
    assert "server usage 127.0.3.51:8890" in sections(loopback)["backend usage"]
