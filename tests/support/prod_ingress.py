"""The prod stack's ingress as designed: every allowed (tier, port, source kind, source), written out by hand.

The CIDRs are the ones Pulumi.prod.yaml ships; the security-group tests and the prod program's tests compare
what the code builds against PROD_MATRIX.
"""

from __future__ import annotations

from components.aws.security import SourceKind

ORCHESTRATORS, OPERATORS, MONITORING = "10.20.0.0/16", "10.99.0.0/24", "10.98.0.0/24"
T, C, G = SourceKind.TIER, SourceKind.CIDR, SourceKind.SECURITY_GROUP

# Written out from the design (spec ports), not computed: the code must arrive at exactly this.
PROD_MATRIX: set[tuple[str, int, SourceKind, str]] = {
    ("nlb", 8888, C, ORCHESTRATORS),
    ("nlb", 8333, C, OPERATORS),
    ("lb", 8888, T, "nlb"),
    # The admin frontend (the filer's native API): the health function, the weed nodes and operators, via the NLB.
    ("lb", 8889, T, "nlb"),
    ("nlb", 8889, C, OPERATORS),
    *{("nlb", 8889, T, source) for source in ("filer", "master", "volume", "s3")},
    ("lb", 8404, T, "nlb"),
    ("lb", 8404, C, MONITORING),
    ("filer", 8888, T, "lb"),
    # The usage service beside each HAProxy tails the filers' metadata stream (gRPC).
    ("filer", 18888, T, "lb"),
    ("filer", 18888, T, "filer"),
    ("filer", 8888, T, "s3"),
    ("filer", 18888, T, "s3"),
    ("filer", 9326, C, MONITORING),
    *{("master", port, T, source) for port in (9333, 19333) for source in ("filer", "volume", "master", "s3")},
    ("master", 9324, C, MONITORING),
    *{("volume", port, T, source) for port in (8080, 18080) for source in ("filer", "volume", "s3")},
    ("volume", 18080, T, "master"),
    ("volume", 9325, C, MONITORING),
    ("s3", 8333, T, "nlb"),
    ("s3", 9327, C, MONITORING),
    ("db", 5432, T, "filer"),
    # The in-VPC health function: the HTTP ports its probes use and HAProxy's stats, nothing else.
    ("nlb", 8888, T, "health"),
    ("nlb", 8889, T, "health"),
    ("nlb", 8333, T, "health"),
    ("lb", 8404, T, "health"),
    ("filer", 8888, T, "health"),
    ("master", 9333, T, "health"),
    ("volume", 8080, T, "health"),
}
