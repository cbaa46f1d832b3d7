"""Options per upload from the object's ``x-amz-meta-palette-*`` metadata."""

import pytest

from worker.errors import InvalidOptions
from worker.upload_options import metadata_for, options_for, requested


def test_no_metadata_gives_the_deployment_default() -> None:
    assert options_for({}, 5).k == 5
    assert options_for({"owner": "ann"}, 7).k == 7  # other metadata is none of ours


@pytest.mark.parametrize(
    ("value", "k"), [("3", 3), ("32", 32), ("1", 1), ("07", 7), (" 12 ", 12), ("auto", "auto")]
)
def test_k_from_metadata(value: str, k: object) -> None:
    assert options_for({"palette-k": value}, 5).k == k


def test_names_and_auto_in_any_case() -> None:
    """Stores return names lower-case, but a hand-built Mapping may not."""
    assert options_for({"Palette-K": "AUTO"}, 5).k == "auto"


@pytest.mark.parametrize("value", ["0", "33", "-3", "+5", "1.5", "1_0", "five", "", "auto5"])
def test_an_invalid_k_says_which_header_and_what_is_accepted(value: str) -> None:
    with pytest.raises(InvalidOptions) as caught:
        options_for({"palette-k": value}, 5)
    assert caught.value.code == "invalid_options"
    assert caught.value.message == (
        f"x-amz-meta-palette-k: k must be an integer 1-32 or 'auto' (got {value!r})"
    )


def test_an_overlong_value_is_refused_without_quoting_it_whole() -> None:
    with pytest.raises(InvalidOptions) as caught:
        options_for({"palette-k": "9" * 10_000}, 5)
    assert len(caught.value.message) < 100


def test_a_misspelt_option_is_refused_not_ignored() -> None:
    with pytest.raises(InvalidOptions, match="unknown upload option x-amz-meta-palette-kk"):
        options_for({"palette-kk": "3"}, 5)


def test_requested_keeps_only_ours_as_sent() -> None:
    assert requested({"palette-k": "abc", "owner": "ann"}) == {"palette-k": "abc"}


def test_a_client_sets_what_the_worker_reads() -> None:
    assert options_for(metadata_for("auto"), 5).k == "auto"
    assert options_for(metadata_for(9), 5).k == 9
    assert metadata_for(None) == {}


def test_clients_check_k_against_the_cores_own_limits() -> None:
    from worker import upload_options
    from worker.palette import options

    assert (upload_options.MAX_K, upload_options.AUTO) == (options.MAX_K, options.AUTO)
