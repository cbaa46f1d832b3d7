"""Every stored event sample parses to the jobs (or ignore reasons) the real store meant."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from api_stub.events import (
    MAX_NESTING,
    EventFormatError,
    Ignored,
    parse_body,
    parse_event,
)
from worker.jobs import PROCESS, REMOVE, Job, unsafe_key_reason

EVENTS = Path(__file__).resolve().parents[2] / "data" / "events"
UNICODE_KEY = "my photos/a b+c ü%.png"
PNG_ETAG = "c5fc2a0fa44652d4b62ecea0b62d3c3e"
MULTIPART = Job("images", "big/multi part.jpg", "c78e341343eb71f14fdef21464e0afa3-2", 5243880)


def load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


EXPECTED: dict[str, tuple[list[Job], dict[str, int]]] = {
    "minio_put.json": ([Job("images", UNICODE_KEY, PNG_ETAG, 1529)], {}),
    "minio_delete.json": ([Job("images", UNICODE_KEY, action=REMOVE)], {}),
    "aws_delete_marker.json": ([Job("images", UNICODE_KEY, action=REMOVE)], {}),
    "minio_put_tagging.json": ([], {"metadata_only": 1}),
    "aws_put.json": ([Job("images", UNICODE_KEY, PNG_ETAG, 1529)], {}),
    "aws_multi_records.json": (
        [Job("images", UNICODE_KEY, PNG_ETAG, 1529), MULTIPART],
        {"other_bucket": 1},
    ),
    "aws_test_event.json": ([], {"s3_test_event": 1}),
    "aws_sqs_wrapped.json": ([Job("images", UNICODE_KEY, PNG_ETAG, 1529)], {"s3_test_event": 1}),
    "aws_sns_wrapped.json": ([MULTIPART], {}),
    "aws_sns_sqs_wrapped.json": ([MULTIPART], {}),
    "ceph_put.json": (
        [Job("images", "cats/tabby.jpg", "37b51d194a7513e45b56f6524f2d51f2", 48213)],
        {},
    ),
    "seaweed_create.json": ([Job("images", UNICODE_KEY, PNG_ETAG, 1529)], {}),
    "seaweed_update.json": (
        [Job("images", UNICODE_KEY, "5d41402abc4b2a76b9719d911017c592", 5)],
        {},
    ),
    "seaweed_plain_put.json": (
        [Job("images", "plain.png", "1f200c5891dfdca0d9ef9520ce98b0db", 10)],
        {},
    ),
    "seaweed_multipart_complete.json": ([MULTIPART], {}),
    "seaweed_multipart_part.json": ([], {"multipart_part": 1}),
    "seaweed_dir.json": ([], {"directory": 1}),
    "seaweed_bucket_dir.json": ([], {"directory": 1}),
    "seaweed_output_bucket.json": ([], {"other_bucket": 1}),
    "seaweed_delete.json": ([Job("images", UNICODE_KEY, action=REMOVE)], {}),
    "seaweed_system.json": ([], {"system": 1}),
}


def test_every_fixture_has_an_expectation() -> None:
    assert {p.name for p in EVENTS.glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_to_expected_jobs(name: str) -> None:
    jobs, reasons = EXPECTED[name]
    parsed = parse_body((EVENTS / name).read_bytes(), "images")
    assert list(parsed.jobs) == jobs
    assert parsed.reasons() == reasons


def test_same_object_from_every_store_is_the_same_job() -> None:
    """MinIO, AWS and SeaweedFS describe one upload: one task id, so one piece of work."""
    ids = {
        parse_event(load(name), "images").jobs[0].id
        for name in ("minio_put.json", "aws_put.json", "seaweed_create.json")
    }
    assert len(ids) == 1


@pytest.mark.parametrize(
    ("encoded", "key"),
    [
        ("my+photos%2Fa+b%2Bc+%C3%BC%25.png", UNICODE_KEY),
        ("my+photos/a+b%2Bc+%C3%BC%25.png", UNICODE_KEY),
        ("plain/key.jpg", "plain/key.jpg"),
        ("100%25+sure.jpg", "100% sure.jpg"),
        ("%E7%8C%AB/%F0%9F%90%88.webp", "猫/🐈.webp"),
    ],
)
def test_s3_keys_are_form_decoded(encoded: str, key: str) -> None:
    event = load("aws_put.json")
    event["Records"][0]["s3"]["object"]["key"] = encoded
    assert parse_event(event, "images").jobs[0].key == key


def test_seaweed_keys_are_not_decoded() -> None:
    event = load("seaweed_create.json")
    event["key"] = "/buckets/images/100%25+sure.jpg"
    assert parse_event(event, "images").jobs[0].key == "100%25+sure.jpg"


def test_seaweed_etag_falls_back_to_md5_then_none() -> None:
    event = load("seaweed_create.json")
    del event["message"]["new_entry"]["extended"]
    assert parse_event(event, "images").jobs[0].etag == PNG_ETAG
    del event["message"]["new_entry"]["attributes"]["md5"]
    assert parse_event(event, "images").jobs[0].etag is None


def test_seaweed_bad_base64_etag_falls_back() -> None:
    event = load("seaweed_create.json")
    event["message"]["new_entry"]["extended"]["Seaweed-X-Amz-ETag"] = "not base64!"
    assert parse_event(event, "images").jobs[0].etag == PNG_ETAG


def test_only_the_configured_input_bucket_yields_jobs() -> None:
    output = load("seaweed_output_bucket.json")
    assert parse_event(output, "palettes").jobs[0] == Job(
        "palettes", "x.json", "99914b932bd37a50b983c5e7c90ae93b", 2
    )
    assert not parse_event(load("minio_put.json"), "photos").jobs


def test_aws_event_names_without_and_minio_with_prefix() -> None:
    event = load("aws_put.json")
    for name in ("ObjectCreated:Copy", "s3:ObjectCreated:Post", "ObjectCreated:Put"):
        event["Records"][0]["eventName"] = name
        assert len(parse_event(event, "images").jobs) == 1
    event["Records"][0]["eventName"] = "ObjectRestore:Completed"
    assert parse_event(event, "images").reasons() == {"other_event": 1}


@pytest.mark.parametrize(
    "name",
    [
        "ObjectRemoved:Delete",
        "s3:ObjectRemoved:Delete",
        "ObjectRemoved:DeleteMarkerCreated",
        "s3:ObjectRemoved:NoOP",
        "LifecycleExpiration:Delete",
    ],
)
def test_removal_events_of_every_store_become_removal_jobs(name: str) -> None:
    event = load("aws_put.json")
    event["Records"][0]["eventName"] = name
    (job,) = parse_event(event, "images").jobs
    assert job == Job("images", UNICODE_KEY, action=REMOVE)
    assert job.task_name == "palette.remove"


def test_a_removal_and_a_creation_of_one_key_in_one_event_are_two_jobs() -> None:
    put, delete = load("aws_put.json"), load("aws_delete_marker.json")
    event = {"Records": put["Records"] + delete["Records"] + put["Records"]}
    jobs = parse_event(event, "images").jobs
    assert [job.action for job in jobs] == [PROCESS, REMOVE]
    assert jobs[0].id != jobs[1].id


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda e: e["message"]["old_entry"].update(is_directory=True), "directory"),
        (lambda e: e.update(key="/buckets/images/.uploads/x/0001.part"), "multipart_part"),
        (lambda e: e.update(key="/buckets/palettes/a.png.json"), "other_bucket"),
        (lambda e: e["message"].pop("old_entry"), "malformed_record"),
        (lambda e: e.update(event_type="rename"), "other_event"),
    ],
)
def test_seaweed_deletes_we_do_not_act_on(mutate: Any, reason: str) -> None:
    event = load("seaweed_delete.json")
    mutate(event)
    assert parse_event(event, "images").reasons() == {reason: 1}


def test_duplicate_records_give_one_job() -> None:
    event = load("aws_put.json")
    event["Records"] *= 3
    assert len(parse_event(event, "images").jobs) == 1


@pytest.mark.parametrize(
    "key",
    ["", "../palettes/x.jpg", "a/../../b.jpg", "./a.jpg", "a\x00b.jpg", "x" * 1020, "a//b.png"],
)
def test_unsafe_keys_are_ignored_with_a_reason(key: str) -> None:
    event = load("seaweed_create.json")
    event["key"] = "/buckets/images/" + key
    parsed = parse_event(event, "images")
    assert not parsed.jobs
    assert parsed.reasons() == {"unsafe_key": 1}


@pytest.mark.parametrize("key", ["a..b.jpg", "..jpg", "a/.hidden.png", "a b+c ü%.png", "x" * 1019])
def test_odd_but_safe_keys_are_accepted(key: str) -> None:
    assert unsafe_key_reason(key) is None


@pytest.mark.parametrize("key", ["/a.png", "a//b.png", "a/"])
def test_keys_a_filer_would_alias_to_another_object_are_refused(key: str) -> None:
    """SeaweedFS resolves empty segments: "/a.png" and "a//b.png" name other objects."""
    assert unsafe_key_reason(key) is not None


def test_s3_key_that_decodes_to_a_dot_dot_segment_is_rejected() -> None:
    event = load("minio_put.json")
    event["Records"][0]["s3"]["object"]["key"] = "..%2Fpalettes%2Fx.png"
    assert parse_event(event, "images").reasons() == {"unsafe_key": 1}


def test_s3_key_with_invalid_utf8_is_malformed() -> None:
    event = load("aws_put.json")
    event["Records"][0]["s3"]["object"]["key"] = "%FF%FE.png"
    assert parse_event(event, "images").reasons() == {"malformed_record": 1}


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda r: r["s3"].pop("object"), "malformed_record"),
        (lambda r: r["s3"].update(bucket=None), "malformed_record"),
        (lambda r: r.update(eventName=None), "other_event"),
    ],
)
def test_malformed_s3_records_are_ignored(mutate: Any, reason: str) -> None:
    event = load("aws_put.json")
    mutate(event["Records"][0])
    assert parse_event(event, "images").reasons() == {reason: 1}


def test_nonsense_size_is_dropped_not_fatal() -> None:
    event = load("ceph_put.json")
    event["Records"][0]["s3"]["object"]["size"] = "lots"
    assert parse_event(event, "images").jobs[0].size is None


@pytest.mark.parametrize("payload", [[], "hello", 3, None, {}, {"foo": 1}])
def test_unknown_json_is_ignored_not_an_error(payload: Any) -> None:
    parsed = parse_event(payload, "images")
    assert not parsed.jobs
    assert parsed.reasons() == {"unrecognised_payload": 1}


@pytest.mark.parametrize(
    "records",
    [[1], [{"eventSource": "x"}], [{"body": "{not json"}], [{"Sns": {"Message": "nope"}}]],
)
def test_bad_records_are_ignored(records: list[Any]) -> None:
    assert parse_event({"Records": records}, "images").reasons() == {"malformed_record": 1}


def test_wrapping_deeper_than_allowed_is_ignored() -> None:
    event: Any = load("aws_put.json")
    for _ in range(MAX_NESTING + 1):
        event = {"Records": [{"body": json.dumps(event)}]}
    assert parse_event(event, "images").reasons() == {"too_deeply_nested": 1}


def test_seaweed_without_new_entry_is_malformed() -> None:
    event = copy.deepcopy(load("seaweed_create.json"))
    event["message"] = {}
    assert parse_event(event, "images").ignored == (Ignored("malformed_record", "no new_entry"),)


def test_seaweed_path_outside_buckets_is_ignored() -> None:
    event = load("seaweed_create.json")
    event["key"] = "/topics/images/x.png"
    assert parse_event(event, "images").reasons() == {"outside_buckets": 1}


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe", b"[" * 100_000])
def test_non_json_body_raises(body: bytes) -> None:
    with pytest.raises(EventFormatError):
        parse_body(body, "images")
