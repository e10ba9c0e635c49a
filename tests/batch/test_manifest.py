"""Manifests: JSON Lines and CSV, one job a line; a bad line is reported with its number."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediatask import UsageError
from mediatask.batch.manifest import read_manifest


def test_jsonl_lines_become_jobs_and_bad_lines_errors(tmp_path: Path) -> None:
    (tmp_path / "cat.png").write_bytes(b"x")
    path = tmp_path / "jobs.jsonl"
    path.write_text(
        '{"provider": "echo", "operation": "mirror", "input": "cat.png", "id": "cat"}\n'
        "\n"
        "{oops\n"
        '{"provider": "echo", "operation": "draw", "params": {"prompt": "p"}}\n'
        '{"provider": "echo"}\n'
        '{"provider": "echo", "operation": "x", "id": "cat"}\n'
        '{"provider": "echo", "operation": "x", "id": "../etc"}\n'
        '{"provider": "echo", "operation": "x", "colour": 1}\n'
        "[1, 2]\n"
    )
    manifest = read_manifest(path)
    assert [(e.line, e.id) for e in manifest.entries] == [(1, "cat"), (4, "line-4")]
    assert manifest.entries[0].job.inputs == (str(tmp_path / "cat.png"),)
    assert manifest.entries[1].job.params == {"prompt": "p"}
    errors = [str(e) for e in manifest.errors]
    assert errors[0].startswith("line 3: not valid JSON")
    assert errors[1:] == [
        "line 5: operation is missing",
        "line 6: id 'cat' is used by an earlier line",
        "line 7: id '../etc' must be 1-100 letters, digits, '.', '_' or '-' (it names files)",
        "line 8: unknown column(s) colour",
        "line 9: not a JSON object",
    ]


def test_csv_with_json_params_and_lists(tmp_path: Path) -> None:
    path = tmp_path / "jobs.csv"
    path.write_text(
        "id,provider,operation,input,params\n"
        'a,echo,mirror,https://x.test/a.png,"{""axis"": ""vertical""}"\n'
        "b,echo,draw,,\n"
        'c,echo,mirror,"[""https://x.test/1.png"", ""https://x.test/2.png""]",\n'
        "d,echo,mirror,https://x.test/a.png,{broken\n"
    )
    manifest = read_manifest(path)
    jobs = {e.id: e.job for e in manifest.entries}
    assert jobs["a"].params == {"axis": "vertical"}
    assert jobs["b"].inputs == ()
    assert jobs["c"].inputs == ("https://x.test/1.png", "https://x.test/2.png")
    assert [str(e) for e in manifest.errors] == ["line 5: params is not valid JSON: {broken"]


def test_a_missing_manifest_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read the manifest"):
        read_manifest(tmp_path / "none.jsonl")
