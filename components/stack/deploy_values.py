"""Turns the model's `{{ref}}` texts into Pulumi inputs, secret exactly when they hold a secret."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from components.model.refs import Ref, is_secret, refs_in, substitute


def resolved(text: str, values: Mapping[Ref, pulumi.Input[str]]) -> pulumi.Input[str]:
    """`text` with its placeholders filled from `values`; plain texts pass through unchanged."""
    refs = refs_in(text)
    if not refs:
        return text
    missing = [ref.placeholder for ref in refs if ref not in values]
    if missing:
        raise KeyError(f"no deploy-time value for {', '.join(missing)}")
    filled = pulumi.Output.all(*[values[ref] for ref in refs]).apply(
        lambda vals: substitute(text, dict(zip(refs, vals, strict=True)))
    )
    return pulumi.Output.secret(filled) if is_secret(text) else filled
