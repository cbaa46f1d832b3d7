from worker import errors


def test_codes_are_the_stable_contract() -> None:
    """Renaming a code breaks every client that switches on it: this set only grows."""
    assert errors.all_codes() >= {
        "not_an_image",
        "unsupported_format",
        "too_large",
        "decompression_bomb",
        "corrupt_image",
        "empty_image",
        "fully_transparent",
        "source_missing",
        "invalid_options",
        "worker_lost",
        "timeout",
        "storage_unavailable",
        "broker_unavailable",
        "internal_error",
    }


def test_every_concrete_error_has_its_own_code() -> None:
    leaves = errors.PermanentError.__subclasses__() + errors.TransientError.__subclasses__()
    codes = [cls.code for cls in leaves]
    assert len(codes) == len(set(codes))
    assert "internal_error" not in codes


def test_as_dict_is_the_json_error_object() -> None:
    assert errors.TooLarge("too big").as_dict() == {
        "code": "too_large",
        "message": "too big",
        "retryable": False,
    }


def test_the_world_at_fault_is_retryable_the_input_never() -> None:
    """Issue 9 item 4: exactly these codes may succeed on another attempt."""
    retryable = {
        cls.code
        for cls in (
            *errors.PermanentError.__subclasses__(),
            *errors.TransientError.__subclasses__(),
        )
        if cls.retryable
    }
    assert retryable == {"worker_lost", "timeout", "storage_unavailable", "broker_unavailable"}
    assert not errors.InternalError.retryable  # a bug of ours: retrying would loop
