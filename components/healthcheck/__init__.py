"""Post-deploy health check of a SeaweedFS cluster; `python -m components.healthcheck --help` runs it."""

from components.healthcheck.checks import CheckResult, Report, not_healthy_message, run_checks, wait_until_healthy
from components.healthcheck.target import Target

__all__ = ["CheckResult", "Report", "Target", "not_healthy_message", "run_checks", "wait_until_healthy"]
