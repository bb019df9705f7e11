"""The policy pack the Pulumi CLI runs (`pulumi preview --policy-pack policy`).

The CLI starts this file with the pack's directory as working directory and first `sys.path` entry. The
rules import the project's `components.model.topology` (the one list of the cluster's ports) instead of
copying it, so the project root, this directory's parent, goes on `sys.path` first. The pack's own
virtualenv needs nothing else: `components.model.topology` uses only PyYAML, which `pulumi` depends on.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policy.pack import PACK_NAME, policies

PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.MANDATORY, policies=policies())
