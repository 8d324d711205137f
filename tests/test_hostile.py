"""Hostile inputs: tampered submissions are refused, no command loses data, corrupt suites say what is wrong.

(Attacks by a method's code at run time are in tests/test_sandbox.py.)
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest

import baselines
import peppp_bench
from peppp_bench.cli import main
from peppp_bench.board.leaderboard import make_submission, validate, write_submission
from peppp_bench.suites.suite import SuiteError, read_suite, sha256_file
from peppp_bench.suites.synthetic import synthetic_suite
from tests.conftest import USER_METHOD

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def submission(tiny) -> dict:
    ev = peppp_bench.evaluate(baselines.make("ed-mf", rank=4), tiny, settings=("I", "II"), budgets=(4, 5), workers=1,
                              progress=False)
    return make_submission(ev, "ed-mf", authors="tests", description="ED-MF", code="baselines:EDMF")


@pytest.mark.parametrize(
    "tamper, reason",
    [
        (lambda s: s["method"].__setitem__("code", "../../../../tmp/x.py:Evil"), "is not a file of leaderboard/methods/"),
        (lambda s: s["method"].__setitem__("code", "/etc/passwd:X"), "must be baselines:Class"),
        (lambda s: s["method"].__setitem__("code", "/abs/leaderboard/methods/x.py:X"), "is not a file of leaderboard/methods/"),
        (lambda s: s["method"].__setitem__("code", "leaderboard/methods/missing.py:X"), "is missing"),
        (lambda s: s["method"].__setitem__("code", "os:system"), "must be baselines:Class"),
        (lambda s: s["method"].__setitem__("reference", True), "only the baselines' bounds are"),
        (lambda s: s["folds"]["rows"][0].__setitem__(5, -0.5), "schema: -0.5 is less than the minimum of 0"),
        (lambda s: s["folds"]["rows"][0].__setitem__(7, 3.0), "schema: 3.0 is greater than the maximum of 1"),
        (lambda s: s.__setitem__("rank", 1), "schema: Additional properties are not allowed ('rank'"),
        (lambda s: s["method"].__setitem__("verified", True), "schema: Additional properties are not allowed ('verified'"),
        (lambda s: s["folds"]["rows"][0].__setitem__(9, "great"), "schema: 'great' is not one of"),
    ],
)
def test_tampered_submissions_are_refused(submission, tiny, tamper, reason: str) -> None:
    bad = copy.deepcopy(submission)
    tamper(bad)
    problems = validate(bad, {"tiny": tiny}, ROOT)
    assert any(reason in p for p in problems), problems


def test_the_oracle_cannot_be_unmarked_as_a_reference(tiny) -> None:
    ev = peppp_bench.evaluate(baselines.make("oracle"), tiny, settings=("I",), budgets=(4,), workers=1, progress=False)
    sub = make_submission(ev, "oracle", authors="x", description="", code="baselines:OracleBound")
    assert validate(sub, {"tiny": tiny}, ROOT) == []
    sub["method"]["reference"] = False
    assert any("is a reference bound" in p for p in validate(sub, {"tiny": tiny}, ROOT))


def _board(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "data"
    synthetic_suite(data / "tiny")
    board = tmp_path / "repo" / "leaderboard"
    method = tmp_path / "cheap.py"
    method.write_text(USER_METHOD)
    common = ["--suite", "tiny", "--data-dir", str(data), "--board", str(board), "--budgets", "5-15", "--workers", "1", "--quiet"]
    assert main(["submit", f"{method}:CheapMean", "--name", "cheap-mean", *common]) == 0
    assert main(["submit", "ed-mf", *common]) == 0
    return board, data


def test_escaping_code_is_never_run_and_each_bad_file_is_reported(tmp_path: Path, capsys) -> None:
    board, data = _board(tmp_path)
    marker = tmp_path / "evil-ran"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').close()\n" + USER_METHOD)
    good = json.loads((board / "submissions" / "tiny--cheap-mean.json").read_text())
    escaping = {**good, "method": {**good["method"], "name": "evil", "code": "../../../../" + str(evil)[1:] + ":CheapMean"}}
    (board / "submissions" / "tiny--evil.json").write_text(json.dumps(escaping))
    (board / "submissions" / "tiny--twin.json").write_text(json.dumps(good))  # a second file for the same method
    (board / "submissions" / "tiny--broken.json").write_text("{not json")
    assert main(["leaderboard", "validate", "--board", str(board), "--data-dir", str(data)]) == 1
    out = capsys.readouterr().out
    assert "tiny--evil.json: INVALID" in out and "not a file of leaderboard/methods/" in out and not marker.exists()
    assert "tiny--twin.json: INVALID" in out and "must be named tiny--cheap-mean.json" in out
    assert "tiny--broken.json: INVALID" in out and "not valid JSON" in out
    assert "tiny--cheap-mean.json: valid, verified" in out and "tiny--ed-mf.json: valid, verified" in out
    # a later submit still works beside the broken file
    assert main(["submit", "qr-mf", "--suite", "tiny", "--data-dir", str(data), "--board", str(board), "--budgets", "5-15",
                 "--workers", "1", "--quiet"]) == 0
    assert main(["leaderboard", "build", "--board", str(board), "--data-dir", str(data)]) == 0
    readme = (board / "README.md").read_text()
    assert "| evil |" not in readme and "| twin" not in readme and "| cheap-mean | ✓" in readme


def test_a_forged_verification_mark_counts_for_nothing(tmp_path: Path) -> None:
    board, data = _board(tmp_path)
    path = board / "submissions" / "tiny--cheap-mean.json"
    assert main(["leaderboard", "validate", "--board", str(board), "--data-dir", str(data)]) == 0
    sub = json.loads(path.read_text())
    for row in sub["folds"]["rows"]:
        row[5] = 0.0  # made-up HyperDiff
    path.write_text(json.dumps(sub))
    from peppp_bench.board.leaderboard import _summary_of

    sub["summary"] = _summary_of(sub)
    write_submission(sub, board / "submissions")  # valid on its face: summary recomputed
    assert main(["leaderboard", "build", "--board", str(board), "--data-dir", str(data)]) == 0
    assert "| cheap-mean | – |" in (board / "README.md").read_text()  # the old mark is bound to the old file
    record = json.loads((board / "verification.json").read_text())
    record["tiny--cheap-mean.json"]["submission_sha256"] = sha256_file(path)  # a forger updates the hash too:
    (board / "verification.json").write_text(json.dumps(record))
    # only re-running catches that, and CI re-runs every submission and diffs verification.json (.ci/run)
    assert main(["leaderboard", "validate", "--board", str(board), "--data-dir", str(data)]) == 1
    assert not json.loads((board / "verification.json").read_text()).get("tiny--cheap-mean.json", {}).get("verified")


def test_non_standard_submissions_are_listed_apart(tmp_path: Path, capsys) -> None:
    board, data = _board(tmp_path)
    assert main(["submit", "random-mf", "--suite", "tiny", "--data-dir", str(data), "--board", str(board), "--budgets", "5",
                 "--workers", "1", "--quiet"]) == 0
    assert main(["leaderboard", "build", "--board", str(board), "--data-dir", str(data)]) == 0
    assert "not ranked (not on the standard protocol" in capsys.readouterr().out
    readme = (board / "README.md").read_text()
    assert "| random-mf |" not in readme and "`tiny--random-mf.json`" in readme


def test_submit_never_overwrites_or_escapes_without_being_asked(tmp_path: Path, capsys) -> None:
    board, data = _board(tmp_path)
    path = board / "submissions" / "tiny--ed-mf.json"
    before = path.read_bytes()
    common = ["--suite", "tiny", "--data-dir", str(data), "--board", str(board), "--budgets", "5-15", "--workers", "1", "--quiet"]
    assert main(["submit", "qr-mf", "--name", "ed-mf", *common]) == 2
    assert "exists: pass --replace" in capsys.readouterr().err and path.read_bytes() == before
    assert main(["submit", "qr-mf", "--name", "../../x", *common]) == 2
    assert "not a safe file name" in capsys.readouterr().err and not (tmp_path / "x.json").exists()
    assert main(["submit", "ed-mf", "--replace", *common]) == 0


def test_build_and_generate_refuse_to_replace_a_folder_that_is_not_a_suite(upstream: Path, tmp_path: Path, capsys) -> None:
    notes = tmp_path / "mine"
    (notes / "another-suite").mkdir(parents=True)
    (notes / "notes.txt").write_text("keep me")
    assert main(["build", "paper", "--upstream", str(upstream), "--out", str(notes)]) == 2
    assert "is not a suite folder" in capsys.readouterr().err
    assert (notes / "notes.txt").read_text() == "keep me" and (notes / "another-suite").is_dir()
    spec = tmp_path / "spec.toml"
    spec.write_text((ROOT / "datasets" / "mini" / "spec.toml").read_text())
    assert main(["generate", str(spec), "--store", str(tmp_path / "store"), "--to-suite", str(notes)]) == 2
    assert not (tmp_path / "store").exists() and (notes / "notes.txt").read_text() == "keep me"
    suite = tmp_path / "suite"
    assert main(["build", "paper", "--upstream", str(upstream), "--out", str(suite)]) == 0
    assert main(["build", "paper", "--upstream", str(upstream), "--out", str(suite)]) == 0  # a suite may be rebuilt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "spec.toml", "suite"]  # no temporary left behind


def test_a_task_id_that_escapes_the_store_is_refused() -> None:
    from peppp_bench.generate.spec import SpecError, parse_spec

    text = (ROOT / "datasets" / "mini" / "spec.toml").read_text().replace('id = "digits-0to9"', 'id = "../../../x"')
    with pytest.raises(SpecError, match=r"tasks\[0\]\.id = '\.\./\.\./\.\./x': expected a safe file name"):
        parse_spec(text)


def _resealed(folder: Path, name: str, content: bytes) -> None:
    """Replace a suite file and recompute the manifest, as a careful tamperer would."""
    (folder / name).write_bytes(content)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest[name] = sha256_file(folder / name)
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("cells.parquet", lambda f: (f / "cells.parquet").read_bytes()[:500], "cells.parquet is malformed"),
        ("metadata.json", lambda f: b"{not json", "metadata.json is malformed"),
        ("datasets.parquet", lambda f: _parquet(pd.DataFrame({"x": [1]})), "datasets.parquet lacks columns"),
        ("metadata.json", lambda f: _edited(f, lambda m: m["normalizers"].__setitem__("max_memory_mb", 1.0)),
         "do not match the fingerprint"),
        ("metadata.json", lambda f: _edited(f, lambda m: m["normalizers"].__setitem__("cap_rule", "row-median")),
         "do not match the fingerprint"),
        ("metadata.json", lambda f: _edited(f, lambda m: m.pop("normalizers")), "metadata.json lacks"),
    ],
)
def test_corrupt_suites_raise_suite_error_naming_the_file(tmp_path: Path, name: str, content, message: str) -> None:
    folder = synthetic_suite(tmp_path / "tiny")
    _resealed(folder, name, content(folder))
    with pytest.raises(SuiteError, match=message):
        read_suite(folder)


def _parquet(df: pd.DataFrame) -> bytes:
    import io

    buf = io.BytesIO()
    df.to_parquet(buf)
    return buf.getvalue()


def _edited(folder: Path, edit) -> bytes:
    meta = json.loads((folder / "metadata.json").read_text())
    edit(meta)
    return json.dumps(meta).encode()


def test_a_format_1_suite_is_upgraded(tmp_path: Path) -> None:
    import hashlib

    import numpy as np

    folder = synthetic_suite(tmp_path / "tiny")
    new = read_suite(folder)
    meta = json.loads((folder / "metadata.json").read_text())
    old = hashlib.sha256("\n".join(new.dataset_ids).encode() + b"\0" + "\n".join(new.error.columns).encode() + b"\0")
    old.update(np.ascontiguousarray(new.E, dtype="<f8").tobytes() + np.ascontiguousarray(new.M, dtype="<f8").tobytes())
    meta.update(suite_format=1, data_sha256=old.hexdigest())
    _resealed(folder, "metadata.json", json.dumps(meta).encode())
    with pytest.raises(SuiteError, match="suite format 1"):
        read_suite(folder)
    assert main(["upgrade", str(folder)]) == 0
    again = read_suite(folder)
    assert again.data_sha256 == new.data_sha256 and again.metadata["provenance"]["upgraded"]["from_suite_format"] == 1
