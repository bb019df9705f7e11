import yaml

from components.model.config import parse
from components.model.node_config import render_node_config


def test_node_config_is_the_specs_storage_block():
    cfg = parse({"s3Enabled": True}, stack="dev")
    doc = yaml.safe_load(render_node_config(cfg, "http://localhost:8888", "http://localhost:8333"))
    assert doc == {
        "spec": {
            "storage": {
                "backend": "seaweedfs",
                "nfs_port": 2049,
                "fallback_to_local": True,
                "seaweedfs": {
                    "filer_url": "http://localhost:8888",
                    "default_ttl_hours": 24,
                    "default_size_limit_mb": 1000,
                    "gc_interval_minutes": 60,
                    "s3_endpoint": "http://localhost:8333",
                    "s3_region": "us-east-1",
                },
            }
        }
    }


def test_without_s3_there_are_no_s3_keys_and_the_filer_url_can_be_overridden():
    cfg = parse({"aegisFilerUrl": "http://seaweedfs-filer-lb:8888", "fallbackToLocal": False}, stack="dev")
    storage = yaml.safe_load(render_node_config(cfg, "http://localhost:8888", None))["spec"]["storage"]
    assert storage["seaweedfs"]["filer_url"] == "http://seaweedfs-filer-lb:8888"
    assert "s3_endpoint" not in storage["seaweedfs"] and storage["fallback_to_local"] is False
