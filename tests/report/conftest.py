"""The session's corpus for the report tests (see `corpus.py`)."""

from __future__ import annotations

import pytest

from report.corpus import Corpus, build


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return build(tmp_path_factory.getbasetemp() / "report-corpus")
