"""`check` over a corpus of broken configurations (tests/config/broken/), one mistake each:
every finding is exactly the one the file expects, and names the file, the line (or the field,
for one that is missing at the top), and the tenant, stage or field it is about."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import check_config
from pipeline.findings import Severity

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "config" / "broken"
FILES = sorted(CORPUS.glob("*.yaml"))
EXPECT = "# expect: "


def expected(path: Path) -> list[str]:
    # The expectations are plain text even in the file that is not UTF-8.
    lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    return [line.removeprefix(EXPECT) for line in lines if line.startswith(EXPECT)]


def shown(path: Path, text: str) -> str:
    return text.replace(str(path), "FILE").replace(str(CORPUS), "DIR").replace(str(ROOT), "ROOT")


def test_the_corpus_has_a_file_for_each_of_at_least_forty_mistakes() -> None:
    assert len(FILES) >= 40
    descriptions = [path.read_bytes().splitlines()[0] for path in FILES]
    assert all(line.startswith(b"# ") for line in descriptions)
    assert len(set(descriptions)) == len(descriptions), "one mistake per file"


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_check_reports_the_mistake_where_it_is(path: Path) -> None:
    report = check_config(path)
    found = [f"{f.severity}: {shown(path, str(f))}" for f in report.findings]
    assert found == expected(path)
    assert report.errors or report.warnings, "a broken configuration is not OK"
    for finding in report.findings:
        where = finding.where
        assert where.file == path
        whole_file = not any((where.tenant, where.pipeline, where.stage, where.field))
        if whole_file:
            # Unreadable as a whole: the line where reading stopped, or the file is empty.
            assert finding.severity is Severity.ERROR
            assert where.line is not None or report.parsed is None
        else:
            assert where.line is not None or (where.tenant is None and where.field is not None)
        assert finding.message and not finding.message.startswith(("Input should", "Field "))
