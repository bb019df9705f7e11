from components.model.config import parse
from components.model.version import SEAWEEDFS_IMAGE_DIGESTS, SEAWEEDFS_VERSION
from tests.support.stack_configs import problems, prod


def test_the_version_defaults_to_the_pinned_release_and_downgrades_are_refused_by_default():
    cfg = parse({}, stack="dev")
    assert cfg.seaweedfs_version == SEAWEEDFS_VERSION and cfg.allow_downgrade is False


def test_a_stack_chooses_its_release_and_may_allow_a_downgrade():
    digest = "sha256:" + "47" * 32
    cfg = prod(seaweedfsVersion="4.47", seaweedfsImageDigest=digest, allowDowngrade=True)
    assert cfg.seaweedfs_version == "4.47" and cfg.allow_downgrade is True
    assert cfg.seaweedfs_image_digest == digest


def test_prod_runs_the_pinned_digest_of_its_release_and_refuses_a_release_without_one():
    assert prod().seaweedfs_image_digest == SEAWEEDFS_IMAGE_DIGESTS[SEAWEEDFS_VERSION]
    (problem,) = problems(_platform="aws", seaweedfsVersion="4.47")
    assert problem.startswith('aegis-storage:seaweedfsVersion = "4.47": has no image digest pinned')
    assert "SEAWEEDFS_IMAGE_DIGESTS" in problem and "docs/image-registry.md" in problem
    (problem,) = problems(_platform="aws", seaweedfsImageDigest="4e61d15f")
    assert 'seaweedfsImageDigest = "4e61d15f": must be an image digest' in problem


def test_a_version_that_is_no_release_fails_with_the_key_the_value_and_the_fix():
    (problem,) = problems(seaweedfsVersion="latest")
    assert "seaweedfsVersion" in problem and '"latest"' in problem
    assert f"pulumi config set seaweedfsVersion {SEAWEEDFS_VERSION}" in problem
