"""aegis-storage: SeaweedFS as the AEGIS volume storage backend (`pulumi up -s dev` or `-s prod`)."""

import pulumi

from components.aws.program import deploy_aws
from components.docker.program import deploy_dev
from components.model.config import AwsStackConfig
from components.stack import stack_config

cfg = stack_config.load()
outputs = deploy_aws(cfg) if isinstance(cfg, AwsStackConfig) else deploy_dev(cfg)
for key, value in outputs.items():
    pulumi.export(key, value)
