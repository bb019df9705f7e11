"""The aegis-storage policy pack: `rules` (plain functions), `pack` (their Pulumi policies), `__main__` (the pack)."""
