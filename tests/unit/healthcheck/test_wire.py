"""The wire readers against bodies shaped as weed 4.48 and HAProxy send them."""

from __future__ import annotations

from typing import Any

import pytest

from components.healthcheck.wire import (
    ClusterStatus,
    Disk,
    VolumeCopy,
    backend_servers,
    cluster_status,
    data_nodes,
    dir_status,
    disks,
    json_object,
    lowest_percent_free,
    replica_counts,
    volume_copies,
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


def test_dir_status_reads_the_layouts_replications_beside_the_nodes() -> None:
    layouts = [{"replication": "010", "collection": "", "ttl": "", "writables": [3]}, {"replication": "000"}]
    found = dir_status({"Topology": {**DIR_STATUS["Topology"], "Layouts": layouts}})
    assert found is not None and found.replications == {"010", "000"}
    assert found.nodes == data_nodes(DIR_STATUS)
    assert dir_status(DIR_STATUS).replications == frozenset()  # no layout yet: nothing was written


@pytest.mark.parametrize("layouts", [[{}], [{"replication": "01"}], ["010"], {"replication": "010"}])
def test_unreadable_layouts_leave_the_nodes_readable(layouts: Any) -> None:
    found = dir_status({"Topology": {**DIR_STATUS["Topology"], "Layouts": layouts}})
    assert found is not None and found.replications is None and len(found.nodes) == 1


# One volume as weed 4.48's /vol/status lists it (fields copied from a loopback cluster).
VOLUME_4 = {
    "Id": 4,
    "Size": 4096,
    "ReplicaPlacement": {"rack": 1},
    "Ttl": {"Count": 0, "Unit": 0},
    "DiskType": "",
    "Collection": "tenant",
    "Version": 3,
    "FileCount": 3,
    "DeleteCount": 1,
    "DeletedByteCount": 100,
    "ReadOnly": False,
    "CompactRevision": 0,
    "ModifiedAtSecond": 1796000000,
}


def test_volume_copies_name_each_copy_with_its_place_sizes_and_placement() -> None:
    body = {"Volumes": {"DataCenters": {"dc1": {"zone-a": {"a:8080": [VOLUME_4]}, "zone-b": {"b:8080": [VOLUME_4]}}}}}
    copies = volume_copies(body)
    assert copies == (
        VolumeCopy(4, "a:8080", "dc1", "zone-a", "tenant", (0, 1, 0), 4096, 100, 3, 1, False),
        VolumeCopy(4, "b:8080", "dc1", "zone-b", "tenant", (0, 1, 0), 4096, 100, 3, 1, False),
    )
    assert copies[0].replication == "010" and copies[0].copies_wanted == 2
    assert replica_counts(body) == {4: (2, 2)}


def test_volume_copies_mark_unreadable_sizes_and_ttl_instead_of_guessing() -> None:
    odd = {"Id": 9, "Size": "big", "Ttl": "3d"}
    [copy] = volume_copies({"Volumes": {"DataCenters": {"dc": {"r": {"a:1": [odd]}}}}}) or ()
    assert (copy.size, copy.file_count, copy.ttl, copy.replication) == (None, 0, None, "000")


@pytest.mark.parametrize(
    "body", [None, [], {}, {"Volumes": {}}, {"Volumes": {"DataCenters": {"dc": {"r": {"a:1": [{"Size": 1}]}}}}}]
)
def test_volume_copies_refuse_what_is_not_vol_status(body: Any) -> None:
    # No DataCenters key is no answer, not "no volume": weed always writes it, null when there is none.
    assert volume_copies(body) is None and replica_counts(body) is None


# A volume server's /status as weed 4.48 sends it (copied from a loopback volume server holding no volume).
VOLUME_SERVER_STATUS = {
    "DiskStatuses": [
        {
            "dir": "/data",
            "all": 270553174016,
            "used": 187683160064,
            "free": 82870013952,
            "percent_free": 30.629843,
            "percent_used": 69.370155,
        }
    ],
    "Version": "8000GB 4.48 pypi",
    "Volumes": None,
}


def test_disks_carry_their_dir_bytes_and_percent_free() -> None:
    assert disks(VOLUME_SERVER_STATUS) == (Disk("/data", 30.629843, 270553174016, 187683160064, 82870013952),)
    (disk,) = disks(VOLUME_SERVER_STATUS) or ()
    assert disk.used_and_free == (187683160064, 82870013952)


def test_disks_mark_unreadable_figures_and_derive_free_bytes_left_out() -> None:
    (odd, derived) = (
        disks({"DiskStatuses": [{"dir": 3, "percent_free": "30", "used": True}, {"all": 10, "used": 4}]}) or ()
    )
    assert odd == Disk(None, None, None, None, None) and odd.used_and_free is None
    assert derived == Disk(None, None, 10, 4, 6) and derived.used_and_free == (4, 6)
    assert disks({"DiskStatuses": None}) == ()
    (infinite,) = disks(json_object('{"DiskStatuses": [{"percent_free": NaN, "used": Infinity, "free": 1}]}')) or ()
    assert (infinite.percent_free, infinite.used, infinite.used_and_free) == (None, None, None)


def test_lowest_percent_free_is_the_fullest_disk_and_only_when_every_disk_is_readable() -> None:
    half, full, odd = Disk("/a", 50.0, 2, 1, 1), Disk("/b", 1.5, 2, 2, 0), Disk("/c", None, None, None, None)
    assert lowest_percent_free([half, full]) == 1.5
    assert lowest_percent_free([half, odd]) is None and lowest_percent_free([]) is None


@pytest.mark.parametrize(
    "body", [None, [], {}, {"Version": "8000GB 4.48 pypi"}, {"DiskStatuses": {}}, {"DiskStatuses": ["/data"]}]
)
def test_disks_refuse_what_is_not_a_volume_server_status(body: Any) -> None:
    assert disks(body) is None


def test_backend_servers_leave_out_other_proxies_and_the_summary_rows() -> None:
    stats = (
        "# pxname,svname,scur,status\nfilers,FRONTEND,0,OPEN\nfilers,filer-0,2,UP\nfilers,BACKEND,2,UP\nstats,s,0,UP\n"
    )
    assert backend_servers(stats, "filers") == {
        "filer-0": {"pxname": "filers", "svname": "filer-0", "scur": "2", "status": "UP"}
    }
