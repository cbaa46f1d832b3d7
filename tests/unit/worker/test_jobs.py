from worker.jobs import Job, normalise_etag, result_keys


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


def test_result_keys_live_beside_the_key() -> None:
    assert result_keys("cats/a.jpg") == ("cats/a.jpg.json", "cats/a.jpg.png")


def test_normalise_etag() -> None:
    assert normalise_etag('"x"') == "x"
    assert normalise_etag('""') is None
    assert normalise_etag(None) is None
