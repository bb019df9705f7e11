"""The HTTP tier's rules for AEGIS's calls as rendered into haproxy.cfg.

Their behaviour is tested on real HAProxy in tests/integration/test_aegis_calls.py.
"""

import re

from components.healthcheck.wire import FILER_BACKEND
from components.model.aegis.calls import DELETE_REFUSED, QUOTA_NOT_ENFORCED, USAGE_NOT_TRACKED, aegis_call_rules
from components.model.haproxy import render_haproxy_cfg


def sections(cfg: str) -> dict[str, str]:
    """haproxy.cfg by section header ("frontend filer", ...)."""
    parts = re.split(r"^(\S.*)$", cfg, flags=re.MULTILINE)
    return {header.strip(): body for header, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_rules_sit_in_the_filer_frontend_only_before_the_backend_choice():
    cfg = sections(render_haproxy_cfg(["f:8888"], bind="0.0.0.0", port=8888, stats_bind="0.0.0.0", stats_port=8404))
    filer = cfg["frontend filer"]
    assert aegis_call_rules() in filer
    assert filer.index("http-request") < filer.index("default_backend filers")
    assert "aegis" not in cfg["frontend stats"] and "aegis" not in cfg["backend filers"]


def test_every_answer_is_one_line_of_text_naming_the_limit():
    rules = aegis_call_rules()
    for status, text in ((403, DELETE_REFUSED), (200, QUOTA_NOT_ENFORCED), (404, USAGE_NOT_TRACKED)):
        assert "\n" not in text
        assert f'return status {status} content-type text/plain string "{text}"' in rules


def test_the_delete_is_rewritten_only_for_aegis_form_and_into_a_recursive_delete():
    rules = aegis_call_rules()
    assert "http-request set-path %[var(txn.aegis_volume)] if aegis_volume_delete" in rules
    assert "http-request set-query recursive=true if aegis_volume_delete" in rules
    setter = next(line for line in rules.splitlines() if "set-var(txn.aegis_volume)" in line)
    assert setter.endswith("if aegis_dir_delete aegis_dir_api aegis_recursive aegis_has_path")


def test_the_filers_sit_in_the_backend_the_readers_of_haproxy_stats_look_in():
    cfg = sections(render_haproxy_cfg(["f:8888"], bind="0.0.0.0", port=8888, stats_bind="0.0.0.0", stats_port=8404))
    assert f"default_backend {FILER_BACKEND}" in cfg["frontend filer"]
    assert "server" in cfg[f"backend {FILER_BACKEND}"]
