"""Where the filer metadata backup goes on AWS: a bucket of the stack's own, apart from RDS.

The first filer's node runs the backup every hour (components/model/metadata_backup.py, a systemd timer in
its node document) and copies each file with the AWS CLI under `filer-metadata/`. The filer tier's role may
only put objects there: it can neither read, list nor delete a backup, so a compromised node cannot erase
them, and versioning keeps what an overwrite replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.model.metadata_backup import OBJECT_PREFIX

# An overwritten backup (only a node with the filer role could) stays this long as a noncurrent version: a
# week to notice. Expired backups pass through the same state, so storage holds retention + this many days.
NONCURRENT_DAYS = 7
# `aws s3 cp` uploads files over 8 MB in parts; a run killed halfway leaves parts that are billed until removed.
INCOMPLETE_UPLOAD_DAYS = 1


@dataclass(frozen=True)
class MetadataBackupBucketArgs:
    stack: str
    retention_days: int
    # The filer tier's role (its name): the nodes that run the backup.
    writer_role: pulumi.Input[str]


class MetadataBackupBucket(pulumi.ComponentResource):
    """An encrypted, versioned, private bucket whose backups expire after `retention_days`; protected and kept
    on delete, like the data disks and the database: it is what a rebuild restores from when RDS cannot."""

    bucket: aws.s3.Bucket
    url: pulumi.Output[str]

    def __init__(self, name: str, args: MetadataBackupBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("aegis:storage:MetadataBackupBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            name,
            # A prefix, not a name: bucket names are global, and a rebuilt stack (prod-dr) gets its own.
            bucket_prefix=f"aegis-storage-{args.stack}-metadata-",
            tags={"Name": f"aegis-storage-{args.stack}-metadata-backup"},
            opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
        )
        bucket_id = self.bucket.id
        aws.s3.BucketPublicAccessBlock(
            name,
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=bucket_id,
            # SSE-S3: the writer needs no KMS permission, and nothing outside S3 holds a key to lose.
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    )
                )
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            name,
            bucket=bucket_id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        self._lifecycle(name, args, versioning)
        self._access(name, args)
        self.url = pulumi.Output.format("s3://{0}/{1}", self.bucket.bucket, OBJECT_PREFIX)
        self.register_outputs({"bucket": self.bucket.bucket, "url": self.url})

    def _lifecycle(self, name: str, args: MetadataBackupBucketArgs, versioning: aws.s3.BucketVersioning) -> None:
        """Backups expire after the retention; with Days set, S3 also removes the delete markers left behind."""
        aws.s3.BucketLifecycleConfiguration(
            name,
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-metadata-backups",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=f"{OBJECT_PREFIX}/"),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=args.retention_days),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=NONCURRENT_DAYS
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=INCOMPLETE_UPLOAD_DAYS
                    ),
                )
            ],
            # S3 refuses noncurrent-version rules on a bucket whose versioning is not yet enabled.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )

    def _access(self, name: str, args: MetadataBackupBucketArgs) -> None:
        """TLS only, for everyone; the filer role may put objects under the prefix, and do nothing else here."""
        child = pulumi.ResourceOptions(parent=self)
        arn = self.bucket.arn
        aws.s3.BucketPolicy(
            name,
            bucket=self.bucket.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "TlsOnly",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [arn, pulumi.Output.format("{0}/*", arn)],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                }
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-put",
            role=args.writer_role,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            # Also covers the multipart upload `aws s3 cp` uses for large files.
                            "Action": "s3:PutObject",
                            "Resource": pulumi.Output.format("{0}/{1}/*", arn, OBJECT_PREFIX),
                        }
                    ],
                }
            ),
            opts=child,
        )
