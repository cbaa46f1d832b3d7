from pathlib import Path

import pytest

from worker.config import Settings
from worker.storage import MemoryStorage

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env({})


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


@pytest.fixture
def photo_bytes() -> bytes:
    return (DATA / "chelsea.jpg").read_bytes()
