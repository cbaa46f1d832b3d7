"""The S3 relay's argument parsing (its bytes are tested end to end through S3 in
tests/integration/test_access_netns.py and test_stack.py)."""

from __future__ import annotations

import pytest

from infra import relay


def test_an_address_is_host_and_port() -> None:
    assert relay.parse_address("10.0.0.5:8333") == ("10.0.0.5", 8333)


@pytest.mark.parametrize("text", ["10.0.0.5", ":8333", "10.0.0.5:0", "10.0.0.5:x", "h:70000"])
def test_a_bad_address_is_refused_with_what_was_given(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        relay.parse_address(text)


def test_wrong_arguments_exit_2_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert relay.main(["10.0.0.5:8333"]) == 2
    assert "usage" in capsys.readouterr().err
    assert relay.main(["nope", "127.0.0.1:8333"]) == 2
    assert "want HOST:PORT, got 'nope'" in capsys.readouterr().err
