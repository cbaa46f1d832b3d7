from worker.jobs import REMOVE, Job, normalise_etag


def test_job_id_is_deterministic_and_ignores_etag_quotes() -> None:
    a = Job("images", "cats/a.jpg", '"abc"')
    b = Job("images", "cats/a.jpg", "abc", size=10)
    assert a.id == b.id
    assert a.id.startswith("palette-")


def test_job_id_changes_with_the_object_version() -> None:
    assert Job("images", "a.jpg", "v1").id != Job("images", "a.jpg", "v2").id
    assert Job("images", "a.jpg", "v1").id != Job("images", "b.jpg", "v1").id


def test_message_round_trip() -> None:
    job = Job("images", "my photos/a b+c ü%.png", "e", 12, 7)
    assert Job.from_message(job.to_message()) == job
    assert "k" not in Job("images", "a").to_message()


def test_a_processing_message_is_unchanged_and_a_removal_says_so() -> None:
    assert Job("images", "a.jpg", "e").to_message() == {
        "bucket": "images",
        "key": "a.jpg",
        "etag": "e",
    }
    removal = Job("images", "a.jpg", action=REMOVE)
    assert removal.to_message() == {"bucket": "images", "key": "a.jpg", "action": "remove"}
    assert Job.from_message(removal.to_message()) == removal
    assert (removal.task_name, Job("images", "a.jpg").task_name) == (
        "palette.remove",
        "palette.process",
    )


def test_a_removal_never_shares_an_id_with_processing() -> None:
    assert Job("images", "a.jpg", action=REMOVE).id != Job("images", "a.jpg").id


def test_normalise_etag() -> None:
    assert normalise_etag('"x"') == "x"
    assert normalise_etag('""') is None
    assert normalise_etag(None) is None
