"""Test support: the loopback harness, Pulumi mocks, stand-ins and shared fixtures; no tests."""
