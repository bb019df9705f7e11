from components.model.config import parse
from components.model.version import SEAWEEDFS_VERSION
from tests.support.stack_configs import problems, prod


def test_the_version_defaults_to_the_pinned_release_and_downgrades_are_refused_by_default():
    cfg = parse({}, stack="dev")
    assert cfg.seaweedfs_version == SEAWEEDFS_VERSION and cfg.allow_downgrade is False


def test_a_stack_chooses_its_release_and_may_allow_a_downgrade():
    cfg = prod(seaweedfsVersion="4.47", allowDowngrade=True)
    assert cfg.seaweedfs_version == "4.47" and cfg.allow_downgrade is True


def test_a_version_that_is_no_release_fails_with_the_key_the_value_and_the_fix():
    (problem,) = problems(seaweedfsVersion="latest")
    assert "seaweedfsVersion" in problem and '"latest"' in problem
    assert f"pulumi config set seaweedfsVersion {SEAWEEDFS_VERSION}" in problem
