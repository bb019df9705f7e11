"""AEGIS as this storage's client: the calls it sends, where it writes, the NodeConfig it reads."""
