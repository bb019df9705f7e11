"""Out of space: no server can take a new volume for a replication in use -> unhealthy, naming what is left."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from components.healthcheck.probing import Http
from components.healthcheck.space import can_place, check_space, nodes_of, placement_problem
from components.healthcheck.wire import DataNode

MASTER = "127.0.9.1:9333"
A, B, C = "127.0.9.21:8080", "127.0.9.22:8080", "127.0.9.23:8080"


def node(url: str, rack: str, free: int, dc: str = "dc1", max_volumes: int = 4) -> DataNode:
    return DataNode(url, url, dc, rack, max_volumes - free, max_volumes, ())


@pytest.mark.parametrize(
    "nodes, replication, possible",
    [
        ([node(A, "a", 1), node(B, "b", 1)], "010", True),
        ([node(A, "a", 2), node(B, "b", 0)], "010", False),  # free slots, but all in one rack
        ([node(A, "a", 1), node(B, "a", 1)], "001", True),
        ([node(A, "a", 1), node(B, "b", 1)], "001", False),  # one server per rack: 001 cannot grow
        ([node(A, "a", 1, dc="x"), node(B, "a", 1, dc="y")], "100", True),
        ([node(A, "a", 0), node(B, "b", 0)], "000", False),
        ([node(A, "a", 1)], "000", True),
    ],
)
def test_placement_follows_the_replication_digits(nodes: list[DataNode], replication: str, possible: bool) -> None:
    assert can_place(nodes, replication) is possible


def test_no_free_slot_anywhere_is_named_with_the_slots_left() -> None:
    problem = placement_problem([node(A, "a", 0), node(B, "b", 0), node(C, "c", 0)], {"010"})
    assert problem.startswith("no free volume slots on any volume server (0 of 12): writes that need a new volume fail")
    assert f"{A} (a) 0 of 4" in problem


def test_slots_in_one_rack_only_are_no_room_for_a_010_volume() -> None:
    problem = placement_problem([node(A, "a", 2), node(B, "b", 0)], {"010", "000"})
    assert problem.startswith("no free volume slots where a new 010 volume can go (2 of 8 free)")


def test_room_for_every_replication_is_no_problem() -> None:
    assert placement_problem([node(A, "a", 1), node(B, "b", 1)], {"010", "000"}) == ""


def dir_status(free: dict[str, int], replications: tuple[str, ...] = ("010",)) -> dict[str, Any]:
    racks = [
        {"Id": f"rack-{i}", "DataNodes": [{"Url": url, "PublicUrl": url, "Volumes": 4 - n, "Max": 4}]}
        for i, (url, n) in enumerate(free.items())
    ]
    layouts = [{"replication": r, "collection": "", "ttl": "", "writables": []} for r in replications]
    return {"Topology": {"Max": 12, "Free": 0, "DataCenters": [{"Id": "dc1", "Racks": racks}], "Layouts": layouts}}


def test_nodes_of_reads_the_layouts_replications() -> None:
    nodes, replications = nodes_of(dir_status({A: 1}, ("010", "000")))
    assert [n.name for n in nodes] == [A] and replications == {"010", "000"}
    with pytest.raises(ValueError):
        nodes_of({"Topology": {"DataCenters": [], "Layouts": [{}]}})


def run(body: dict[str, Any], disks: dict[str, Any] | None = None) -> Any:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if request.url.path == "/status":
            return httpx.Response(200, json=disks or {})
        return httpx.Response(200, json=body)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        [result] = check_space(Http(client, 3.0), [f"http://{MASTER}"], [f"http://{A}"])
    return result, asked


def test_full_servers_are_unhealthy_and_the_disk_left_is_named() -> None:
    disk = {"dir": "/data", "all": 10 * 1024**3, "free": 9 * 1024**3, "used": 1024**3, "percent_free": 90.0}
    result, _ = run(dir_status({A: 0, B: 0, C: 0}), {"DiskStatuses": [disk]})
    assert not result.ok and not result.degraded
    assert "no free volume slots on any volume server" in result.detail
    assert f"disk: {A} /data 90.0% free (9.0 GiB of 10.0 GiB)" in result.detail


def test_room_left_passes_without_reading_the_heavy_status_page() -> None:
    result, asked = run(dir_status({A: 1, B: 1, C: 0}))
    assert result.ok and result.detail == "2 free volume slot(s)" and "/status" not in asked
