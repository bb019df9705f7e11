"""The wire readers against bodies shaped as weed 4.48 and HAProxy send them."""

from __future__ import annotations

from typing import Any

import pytest

from components.healthcheck.wire import (
    ClusterStatus,
    backend_servers,
    cluster_status,
    data_nodes,
    json_object,
)

DIR_STATUS = {
    "Topology": {
        "Max": 10,
        "Free": 1,
        "DataCenters": [
            {
                "Id": "dc1",
                "Racks": [
                    {
                        "Id": "zone-a",
                        "DataNodes": [
                            {
                                "Url": "127.0.77.1:18080",
                                "PublicUrl": "127.0.77.1:18080",
                                "Volumes": 9,
                                "EcShards": 0,
                                "Max": 10,
                                "VolumeIds": " 1-3 5 7-9",
                            }
                        ],
                    },
                    {"Id": "zone-b", "DataNodes": None},
                ],
            },
            {"Id": "dc2", "Racks": None},
        ],
    }
}


def test_json_object_reads_objects_only() -> None:
    assert json_object(b'{"a": 1}') == {"a": 1}
    assert [json_object(body) for body in (None, "", "[1]", "not json")] == [None] * 4


def test_cluster_status_reads_leader_and_peers_as_raft_addresses() -> None:
    status = cluster_status({"IsLeader": True, "Leader": "m1:9333.19333", "Peers": ["m0:9333.19333", "m2:9333"]})
    assert status == ClusterStatus("m1:9333.19333", True, ("m0:9333.19333", "m2:9333"))
    assert status.leader_address == "m1:9333" and status.peer_addresses == ("m0:9333", "m2:9333")
    assert cluster_status({}) == ClusterStatus("", False, ())  # an election, a lone master


@pytest.mark.parametrize("body", [None, {"Leader": 3}, {"Peers": "m0:9333"}])
def test_cluster_status_refuses_other_bodies(body: Any) -> None:
    assert cluster_status(body) is None


def test_data_nodes_carry_their_place_slots_and_volume_ids() -> None:
    (node,) = data_nodes(DIR_STATUS) or ()
    assert (node.url, node.data_center, node.rack) == ("127.0.77.1:18080", "dc1", "zone-a")
    assert (node.volumes, node.max_volumes, node.free_slots) == (9, 10, 1)
    assert node.volume_ids == (1, 2, 3, 5, 7, 8, 9)


def test_a_cut_volume_id_list_and_unreadable_counts() -> None:
    (node,) = (
        data_nodes(
            {
                "Topology": {
                    "DataCenters": [{"Racks": [{"DataNodes": [{"Url": "v:1", "Max": True, "VolumeIds": " 1 ..."}]}]}]
                }
            }
        )
        or ()
    )
    assert node.volume_ids == (1,) and node.max_volumes is None and node.free_slots is None


@pytest.mark.parametrize(
    "body", [None, {}, {"Topology": []}, {"Topology": {"DataCenters": [{"Racks": [{"DataNodes": [{}]}]}]}}]
)
def test_data_nodes_refuse_what_is_not_a_topology(body: Any) -> None:
    assert data_nodes(body) is None


def test_backend_servers_leave_out_other_proxies_and_the_summary_rows() -> None:
    stats = (
        "# pxname,svname,scur,status\nfilers,FRONTEND,0,OPEN\nfilers,filer-0,2,UP\nfilers,BACKEND,2,UP\nstats,s,0,UP\n"
    )
    assert backend_servers(stats, "filers") == {
        "filer-0": {"pxname": "filers", "svname": "filer-0", "scur": "2", "status": "UP"}
    }
