"""The first-up simulation's pure parts on a tiny synthetic graph, and its budgets read from the code."""

from __future__ import annotations

import random

import pytest

from benchmarks import first_up
from benchmarks.first_up import Outcome, Resource, critical_path, order, percentile, simulate


def graph() -> dict[str, Resource]:
    # vpc -> nat -> instance -> ready;  vpc -> db -> ready  (the database is the long leg)
    return {
        "vpc": Resource("vpc", "vpc", "t", ()),
        "nat": Resource("nat", "nat", "t", ("vpc",)),
        "db": Resource("db", "db", "t", ("vpc",)),
        "instance": Resource("instance", "instance", "t", ("nat",)),
        "ready": Resource("ready", "ready", "t", ("instance", "db")),
    }


SECONDS = {"vpc": 1.0, "nat": 120.0, "db": 1200.0, "instance": 40.0, "ready": 150.0}


def fixed(resource: Resource, outcome: Outcome, start: float, rng: random.Random) -> float:
    return SECONDS[resource.key]


def test_a_resource_starts_when_its_last_dependency_finished_and_the_path_follows_the_latest_one():
    outcome = simulate(graph(), fixed, random.Random(0))
    assert outcome.start["ready"] == 1201.0 and outcome.total == 1351.0
    assert critical_path(graph(), outcome) == ["vpc", "db", "ready"]
    SECONDS["db"] = 10.0
    try:
        assert critical_path(graph(), simulate(graph(), fixed, random.Random(0))) == ["vpc", "nat", "instance", "ready"]
    finally:
        SECONDS["db"] = 1200.0


def test_dependencies_come_first_and_a_cycle_is_refused():
    keys = order(graph())
    assert keys.index("vpc") < keys.index("nat") < keys.index("instance") < keys.index("ready")
    cyclic = {"a": Resource("a", "a", "t", ("b",)), "b": Resource("b", "b", "t", ("a",))}
    with pytest.raises(ValueError, match="cycle"):
        order(cyclic)


def test_percentiles_and_a_seeded_run_repeat():
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0 and percentile([1.0, 2.0], 0.95) == 2.0
    rng = [random.Random(7), random.Random(7)]
    spans = [first_up.DURATIONS["aws:rds/instance:Instance"].sample(r) for r in rng]
    assert spans[0] == spans[1] and 15 * 60 <= spans[0] <= 40 * 60


def test_the_budgets_are_the_codes_own_values():
    found = {b.name.split(" (")[0]: b.seconds for b in first_up.budgets()}
    assert found["NodeReady"] == 900 and found["health gate"] == 300 and found["filer-rules job"] == 120
    assert found["deploy job"] == first_up.workflow_minutes() * 60 == 3600


def test_on_the_prod_graph_the_s3_node_waits_for_the_filers_and_no_instance_beats_its_nat_route():
    resources = first_up.program_graph()
    keys = [b.wait for b in first_up.budgets()]
    now = first_up.monte_carlo(resources, keys, 200, seed=1)
    before = first_up.monte_carlo(first_up.without_fixes(resources), keys, 200, seed=1)
    assert percentile(now.worst["NodeReady "], 0.95) < 900 < percentile(before.worst["NodeReady "], 0.95)
    assert max(now.worst["NAT route"]) == 0.0 < max(before.worst["NAT route"])
    assert now.median_path[-1] == "health-gate" and "metadata-db" in now.median_path
