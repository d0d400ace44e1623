from __future__ import annotations

from pathlib import Path

import pytest

from shared.results.sqlite_store import SqliteStore
from shared.settings import Settings

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(store_path=tmp_path / "store.sqlite3")


@pytest.fixture
async def store(settings: Settings):
    repository = SqliteStore(settings.store_path)
    yield repository
    await repository.close()
