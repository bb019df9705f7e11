"""Post-deploy health check of a SeaweedFS cluster; `python -m components.healthcheck --help` runs it."""

from components.healthcheck.checks import CheckResult, Report, Target, run_checks, wait_until_healthy

__all__ = ["CheckResult", "Report", "Target", "run_checks", "wait_until_healthy"]
