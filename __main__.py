"""aegis-storage: SeaweedFS as the AEGIS volume storage backend (`pulumi up -s dev` or `-s prod`)."""

import pulumi

from components import stack_config
from components.aws.program import deploy_aws
from components.config import Platform
from components.dev_program import deploy_dev

cfg = stack_config.load()
outputs = deploy_dev(cfg) if cfg.platform is Platform.DOCKER else deploy_aws(cfg)
for key, value in outputs.items():
    pulumi.export(key, value)
