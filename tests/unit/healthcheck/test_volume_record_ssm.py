"""The Lambda watch's volume record against botocore's own SSM service model (Stubber: no network, no AWS).

The Stubber checks every request against the model's input shape and every canned answer against its output
shape, so the calls `SsmRecord` makes are the ones SSM accepts, and the errors it handles are the ones the
real client raises. What the model states only in prose (the 8 KB value limit of the Advanced tier) is read
from its documentation, which is where botocore keeps it.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from components.healthcheck.ledger import MAX_RECORD_BYTES, Record, Recorded
from components.healthcheck.probing import Http
from components.healthcheck.volume_record import SSM_PARAMETER_TIER, SsmRecord, check_volume_record, ssm_parameter_name

NAME = ssm_parameter_name("prod")
A, B = "10.40.1.10:8080", "10.40.2.10:8080"


@pytest.fixture
def ssm() -> Iterator[tuple[SsmRecord, Stubber]]:
    client = boto3.client("ssm", region_name="us-east-1", aws_access_key_id="AKID", aws_secret_access_key="SECRET")
    with Stubber(client) as stubber:
        yield SsmRecord(client, NAME), stubber
        stubber.assert_no_pending_responses()


def put_request(value: object = ANY) -> dict[str, object]:
    return {"Name": NAME, "Value": value, "Type": "String", "Tier": "Advanced", "Overwrite": True}


def test_the_first_get_answers_parameter_not_found_and_the_put_creates_the_parameter(ssm) -> None:
    store, stubber = ssm
    stubber.add_client_error("get_parameter", "ParameterNotFound", http_status_code=400, expected_params={"Name": NAME})
    stubber.add_response("put_parameter", {"Version": 1, "Tier": "Advanced"}, put_request())
    body = {"Volumes": {"DataCenters": {"dc": {"zone-a": {A: [{"Id": 3, "Size": 4096, "FileCount": 1}]}}}}}

    def master(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    with httpx.Client(transport=httpx.MockTransport(master)) as client:
        [result] = check_volume_record(Http(client, 3.0), ["http://10.40.0.10:9333"], store)
    assert result.ok and result.detail.startswith(f"first run: recorded 1 volume(s) holding data in ssm:{NAME}")


def test_a_stored_record_is_read_back(ssm) -> None:
    store, stubber = ssm
    record = Record({7: Recorded("tenant", "010", (A, B))})
    answer = {"Parameter": {"Name": NAME, "Type": "String", "Value": record.to_json(), "Version": 4}}
    stubber.add_response("get_parameter", answer, {"Name": NAME})
    assert store.load() == record


def test_other_errors_are_not_taken_for_a_first_run(ssm) -> None:
    # A role without ssm:GetParameter must not start a fresh record and forget every volume seen so far.
    store, stubber = ssm
    stubber.add_client_error("get_parameter", "AccessDeniedException", http_status_code=400)
    with pytest.raises(ClientError, match="AccessDeniedException"):
        store.load()


def test_the_put_is_valid_for_the_model_up_to_the_largest_record(ssm) -> None:
    store, stubber = ssm
    # The ledger's worst case: 900 volumes, every other id, so no range merges them.
    largest = Record({1_000_000 + 2 * i: Recorded("", "010", (A, B) if i % 2 else (B, A)) for i in range(900)})
    text = largest.to_json()
    assert len(text.encode()) <= MAX_RECORD_BYTES
    assert "{{" not in text  # SSM refuses values wrapped in double braces (parameter references)
    stubber.add_response("put_parameter", {"Version": 2, "Tier": "Advanced"}, put_request(text))
    store.save(largest)


def test_a_record_over_the_advanced_limit_is_refused_before_any_call(ssm) -> None:
    store, _ = ssm  # no response queued: any call to SSM would fail the Stubber
    huge = Record({vid: Recorded("", "010", (A, B)) for vid in range(1, 20_000, 2)})
    with pytest.raises(ValueError, match=f"more than the {MAX_RECORD_BYTES} bytes"):
        store.save(huge)


def test_the_tier_and_its_limit_are_the_models() -> None:
    model = boto3.client("ssm", region_name="us-east-1").meta.service_model
    members = model.operation_model("PutParameter").input_shape.members
    assert SSM_PARAMETER_TIER in members["Tier"].enum and "String" in members["Type"].enum
    assert "Advanced parameters have a value limit of 8 KB" in members["Value"].documentation
    assert MAX_RECORD_BYTES == 8 * 1024
    assert len(NAME) <= members["Name"].metadata["max"]
    assert "ParameterNotFound" in [error.name for error in model.operation_model("GetParameter").error_shapes]
