"""The filer metadata backup in the prod program, under Pulumi's mocks: its bucket (encrypted, versioned, private,
TLS only, protected), the lifecycle that keeps `metadataBackupRetentionDays`, the filer role's one permission, and
the timer in the first filer's node document."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.aws import metadata_backup as bucket_module
from components.model.metadata_backup import OBJECT_PREFIX, SCHEDULE
from policy import rules
from tests.support.prod_program import BUCKET, SSM, Run, execute
from tests.support.pulumi_harness import RecordingMocks
from tests.support.stack_configs import problems

BUCKET_TYPE = "aws:s3/bucket:Bucket"
UNIT = "seaweedfs-metadata-backup"


@pytest.fixture(scope="module")
def prod() -> Run:
    """The prod program, with each IAM role's computed name (the mocks echo inputs only)."""
    echo = RecordingMocks.new_resource

    def with_role_name(self: RecordingMocks, args: Any) -> tuple[str, dict[str, Any]]:
        id_, outputs = echo(self, args)
        return id_, {**outputs, "name": args.name} if args.typ == "aws:iam/role:Role" else outputs

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RecordingMocks, "new_resource", with_role_name)
        return execute()


def one(prod: Run, type_: str) -> dict[str, Any]:
    (found,) = [r for r in prod.run.of_type(type_) if r.name.startswith("metadata-backup")]
    return found.inputs


def test_the_bucket_is_protected_kept_on_delete_and_a_component_child(prod):
    (bucket,) = prod.run.of_type(BUCKET_TYPE)
    assert bucket.protect and bucket.retain_on_delete
    assert bucket.inputs["bucketPrefix"] == "aegis-storage-prod-metadata-"
    assert "aegis:storage:MetadataBackupBucket" in bucket.parent
    assert rules.unprotected_state(BUCKET_TYPE, bucket.inputs, protect=False)


def test_the_bucket_is_encrypted_versioned_private_and_tls_only(prod):
    sse = one(prod, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    versioning = one(prod, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    block = one(prod, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    (statement,) = json.loads(one(prod, "aws:s3/bucketPolicy:BucketPolicy")["policy"])["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("days", [30, 90])
def test_backups_expire_after_the_configured_retention(days):
    run = execute() if days == 30 else execute(metadataBackupRetentionDays=days)
    (rule,) = one(run, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")["rules"]
    assert rule["status"] == "Enabled" and rule["filter"]["prefix"] == f"{OBJECT_PREFIX}/"
    assert rule["expiration"]["days"] == days
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == bucket_module.NONCURRENT_DAYS
    assert rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == bucket_module.INCOMPLETE_UPLOAD_DAYS


def test_retention_below_a_day_is_refused():
    assert any("metadataBackupRetentionDays" in p for p in problems(_platform="aws", metadataBackupRetentionDays=0))


def test_only_the_filer_role_may_put_objects_under_the_prefix_and_nothing_else(prod):
    policies = [r for r in prod.run.of_type("aws:iam/rolePolicy:RolePolicy") if "s3:" in r.inputs["policy"]]
    (policy,) = policies
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/{OBJECT_PREFIX}/*",
    }
    assert policy.inputs["role"] == "secrets-filer"  # the filer tier's role, and no other


def test_the_first_filer_runs_the_timer_and_no_other_node_changes(prod):
    document = prod.document("filer-0")
    assert f"{UNIT}.timer" in document["units"]
    files = prod.files("filer-0")
    assert f"OnCalendar={SCHEDULE}" in files[f"/etc/systemd/system/{UNIT}.timer"]
    service = files[f"/etc/systemd/system/{UNIT}.service"]
    assert "Requisite=seaweedfs-filer-0.service" in service and "Type=oneshot" in service
    assert f"Wants={UNIT}.timer" in files["/etc/systemd/system/seaweedfs-filer-0.service"]
    run = files[f"/etc/aegis/{UNIT}/run"]
    assert f"target='s3://{BUCKET}/{OBJECT_PREFIX}'" in run
    assert "docker exec -i seaweedfs-filer-0 /usr/bin/weed shell -master=master-0." in run
    assert "aws s3 cp" in run and "{{" not in run
    others = [p.name for p in prod.run.of_type(SSM) if p.name.endswith("-config") and p.name != "filer-0-config"]
    assert others and not any(UNIT in json.dumps(prod.document(n.removesuffix("-config"))) for n in others)


def test_the_backup_url_is_an_output(prod):
    assert prod.run.outputs["metadata_backup_url"] == f"s3://{BUCKET}/{OBJECT_PREFIX}"
