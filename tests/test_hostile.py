"""Hostile inputs: tampered submissions are refused, no command loses data, corrupt suites say what is wrong.

(Attacks by a method's code at run time are in tests/test_sandbox.py.)
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

import baselines
import peppp_bench
from peppp_bench.board.leaderboard import make_submission, validate, write_submission
from peppp_bench.cli import main
from peppp_bench.suites.suite import SuiteError, read_suite, sha256_file
from peppp_bench.suites.synthetic import synthetic_suite
from tests.conftest import USER_METHOD, submit_args

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def submission(tiny) -> dict:
    ev = peppp_bench.evaluate(
        baselines.make("ed-mf", rank=4),
        tiny,
        settings=("I", "II"),
        budgets=(4, 5),
        workers=1,
        progress=False,
        seeds=(0,),
    )
    return make_submission(ev, "ed-mf", authors="tests", description="ED-MF", code="baselines:EDMF")


@pytest.mark.parametrize(
    "tamper, reason",
    [
        (
            lambda s: s["method"].__setitem__("code", "../../../../tmp/x.py:Evil"),
            "is not a file of leaderboard/methods/",
        ),
        (lambda s: s["method"].__setitem__("code", "/etc/passwd:X"), "must be a registered package:Class"),
        (
            lambda s: s["method"].__setitem__("code", "/abs/leaderboard/methods/x.py:X"),
            "is not a file of leaderboard/methods/",
        ),
        (lambda s: s["method"].__setitem__("code", "leaderboard/methods/missing.py:X"), "is missing"),
        (lambda s: s["method"].__setitem__("code", "os:system"), "is not a registered method"),
        (lambda s: s["method"].__setitem__("reference", True), "only this package's own bounds are"),
        (
            lambda s: s["folds"]["rows"][0].__setitem__(6, -0.5),
            "rows break the rule 'hyperdiff is null or a number ≥ 0'",
        ),
        (
            lambda s: s["folds"]["rows"][0].__setitem__(8, 3.0),
            "rows break the rule 'relative_memory is null or a number ≥ 0 and ≤ 1'",
        ),
        (lambda s: s.__setitem__("rank", 1), "schema: Additional properties are not allowed ('rank'"),
        (
            lambda s: s["method"].__setitem__("verified", True),
            "schema: Additional properties are not allowed ('verified'",
        ),
        (lambda s: s["folds"]["rows"][0].__setitem__(1, True), "rows break the rule 'seed is an integer'"),
        (lambda s: s["folds"]["rows"][0].__setitem__(5, "0.1"), "rows break the rule 'convergence is null or a number"),
        (
            lambda s: s["folds"]["rows"][0].__setitem__(4, -0.1),
            "rows break the rule 'frontier_regret is null or a number ≥ 0'",
        ),
        (lambda s: s["folds"]["rows"][0].append(1), "every row is a list of 12 values"),
        (lambda s: s["folds"]["rows"].__setitem__(0, "I0digits-xx5"), "every row is a list of 12 values"),
        (
            lambda s: s["folds"]["rows"].__setitem__(0, dict.fromkeys(s["folds"]["columns"], 0)),
            "every row is a list of 12 values",
        ),
        (
            lambda s: s["folds"]["rows"][0].__setitem__(10, "great"),
            "rows break the rule 'status is ok, failed or skipped'",
        ),
    ],
)
def test_tampered_submissions_are_refused(submission, tiny, tamper, reason: str) -> None:
    bad = copy.deepcopy(submission)
    tamper(bad)
    problems = validate(bad, {"tiny": tiny}, ROOT)
    assert any(reason in p for p in problems), problems


def test_the_oracle_cannot_be_unmarked_as_a_reference(tiny) -> None:
    ev = peppp_bench.evaluate(
        baselines.make("oracle"), tiny, settings=("I",), budgets=(4,), workers=1, progress=False, seeds=(0,)
    )
    sub = make_submission(ev, "oracle", authors="x", description="", code="baselines:OracleBound")
    assert validate(sub, {"tiny": tiny}, ROOT) == []
    sub["method"]["reference"] = False
    assert any("is a reference bound" in p for p in validate(sub, {"tiny": tiny}, ROOT))


@pytest.mark.slow
def test_escaping_code_is_never_run_and_each_bad_file_is_reported(
    os_sandbox, tiny_board, tmp_path: Path, capsys
) -> None:
    board, data = tiny_board
    marker = tmp_path / "evil-ran"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').close()\n" + USER_METHOD)
    good = json.loads((board / "submissions" / "tiny--cheap-mean.json").read_text())
    escaping = {
        **good,
        "method": {**good["method"], "name": "evil", "code": "../../../../" + str(evil)[1:] + ":CheapMean"},
    }
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
    assert main(["submit", "qr-mf", *submit_args(data, board, budgets="5", seeds="0")]) == 0
    assert main(["leaderboard", "build", "--board", str(board), "--data-dir", str(data)]) == 0
    readme = (board / "README.md").read_text()
    assert "| evil |" not in readme and "| twin" not in readme and "| cheap-mean | ✓" in readme


def _git(repo: Path, *args: str) -> None:
    import subprocess

    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True, capture_output=True
    )


@pytest.mark.slow
def test_a_forged_verification_mark_is_re_run_and_caught(os_sandbox, tiny_board, tmp_path: Path, capsys) -> None:
    """A forger edits the folds and writes a mark with every right hash: a mark is never trusted because it
    matches, so validation against the commit before the edit re-runs the submission and catches it."""
    from peppp_bench.board.leaderboard import _summary_of, folds_frame
    from peppp_bench.board.verify import harness_fingerprint, key_of, read_marks, write_marks

    board, data = tiny_board
    repo = board.parent
    path = board / "submissions" / "tiny--cheap-mean.json"  # verified when the template board was made
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "board")
    sub = json.loads(path.read_text())
    for row in sub["folds"]["rows"]:
        row[5] = 0.0  # made-up HyperDiff
    sub["summary"] = _summary_of(folds_frame(sub))
    write_submission(sub, board / "submissions")  # valid on its face: summary recomputed
    assert main(["leaderboard", "build", "--board", str(board), "--data-dir", str(data)]) == 0
    assert "| cheap-mean | – |" in (board / "README.md").read_text()  # the old mark is bound to the old file
    marks = read_marks(board)  # the forger rewrites the mark with every right hash
    key = key_of(path, sub, repo, peppp_bench.load("tiny", data_dir=data).data_sha256, harness_fingerprint())
    marks["tiny--cheap-mean.json"] = {**key.as_dict(), "verified": True}
    write_marks(board, marks)
    assert main(["leaderboard", "build", "--board", str(board), "--data-dir", str(data)]) == 0
    assert "| cheap-mean | ✓ |" in (board / "README.md").read_text()  # a matching mark alone looks verified...
    capsys.readouterr()
    assert main(["leaderboard", "validate", "--board", str(board), "--data-dir", str(data), "--since", "HEAD"]) == 1
    out = capsys.readouterr().out  # ...so CI re-runs what changed since the commit it compares against
    assert "tiny--cheap-mean.json: INVALID" in out and "does not reproduce" in out
    assert "tiny--ed-mf.json: valid, verified (mark fresh)" in out  # unchanged: not re-run
    assert read_marks(board)["tiny--cheap-mean.json"]["verified"] is False
    for sampled in ([], ["--sample", "2", "--spot-seeds", "1"]):  # a failed mark is said, and no spot check clears it
        assert main(["leaderboard", "validate", "--board", str(board), "--data-dir", str(data), *sampled]) == 1
        out = capsys.readouterr().out
        assert "tiny--cheap-mean.json: INVALID" in out and "did not reproduce its folds" in out
        assert read_marks(board)["tiny--cheap-mean.json"]["verified"] is False
    assert main(["leaderboard", "build", "--board", str(board), "--data-dir", str(data)]) == 0
    assert "| cheap-mean | ✗ |" in (board / "README.md").read_text()


@pytest.mark.slow(seconds=55)
def test_validation_re_runs_only_stale_or_missing_marks(os_sandbox, tiny_board, tmp_path: Path, capsys) -> None:
    board, data = tiny_board  # its two submissions were re-run and marked when the template was made
    marks = json.loads((board / "verification.json").read_text())
    assert set(marks) == {"tiny--cheap-mean.json", "tiny--ed-mf.json"} and all(m["verified"] for m in marks.values())
    assert main(["leaderboard", "validate", "--board", str(board), "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert out.count("(mark fresh)") == 2 and "re-run" not in out
    method = board / "methods" / "cheap-mean.py"
    method.write_text(method.read_text() + "\n# a comment changes nothing that runs\n")
    assert main(["leaderboard", "validate", "--board", str(board), "--data-dir", str(data)]) == 0
    assert capsys.readouterr().out.count("(mark fresh)") == 2
    method.write_text(
        method.read_text().replace("np.full(len(task.valid), ", "np.full(len(task.valid), 1.0 * ")
    )  # runs differently, same results
    assert main(["leaderboard", "validate", "--board", str(board), "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert "tiny--cheap-mean.json: valid, verified (re-run: stale mark (method code changed))" in out
    assert "tiny--ed-mf.json: valid, verified (mark fresh)" in out
    assert main(["leaderboard", "validate", "--board", str(board), "--data-dir", str(data), "--sample", "1"]) == 0
    assert capsys.readouterr().out.count("(re-run: sampled)") == 1  # (--all: the harness-wide re-mark's test)
    assert (
        main(
            [
                "leaderboard",
                "validate",
                str(board / "submissions" / "tiny--cheap-mean.json"),
                "--board",
                str(board),
                "--data-dir",
                str(data),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "tiny--cheap-mean.json: valid, verified (re-run: --all)" in out and "ed-mf" not in out.split("valid, 0")[0]
    assert set(json.loads((board / "verification.json").read_text())) == set(marks)  # the other mark is kept


def test_a_board_without_a_suite_reports_it_as_not_checked(tiny_board, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PEPPP_BENCH_OFFLINE", "1")  # `paper` is neither built nor downloadable here
    board, data = tiny_board
    other = json.loads((board / "submissions" / "tiny--ed-mf.json").read_text())
    other["suite"]["name"] = "paper"
    (board / "submissions" / "paper--ed-mf.json").write_text(json.dumps(other))
    assert main(["leaderboard", "validate", "--board", str(board), "--data-dir", str(data), "--no-rerun"]) == 0
    captured = capsys.readouterr()
    assert "paper--ed-mf.json: not checked" in captured.out and "2 valid, 0 invalid, 1 not checked" in captured.out
    assert "suite 'paper' is not available here" in captured.err
    assert (
        main(["leaderboard", "validate", "--board", str(board), "--data-dir", str(data), "--no-rerun", "--strict"]) == 1
    )
    assert main(["leaderboard", "build", "--board", str(board), "--data-dir", str(data)]) == 0
    assert "| ed-mf |" in (board / "README.md").read_text()


def test_a_build_without_a_suite_keeps_its_part_of_the_board_unchanged(
    tiny_board, tmp_path: Path, capsys, monkeypatch
) -> None:
    """A contributor without the authors' arrays builds the board: the suite they cannot see stays as committed,
    byte for byte, in board.json and in the board's README."""
    monkeypatch.setenv("PEPPP_BENCH_OFFLINE", "1")
    board, data = tiny_board
    assert main(["leaderboard", "build", "--board", str(board), "--data-dir", str(data)]) == 0
    before_json, before_md = (board / "board.json").read_text(), (board / "README.md").read_text()
    elsewhere = tmp_path / "no-suites"
    elsewhere.mkdir()
    capsys.readouterr()
    assert main(["leaderboard", "build", "--board", str(board), "--data-dir", str(elsewhere)]) == 0
    assert (
        "suite 'tiny' is not here: its part of the board is kept as committed (2 submissions)"
        in capsys.readouterr().out
    )
    after = json.loads((board / "board.json").read_text())
    before = json.loads(before_json)
    for part in ("cells", "comparisons", "verified", "suite_notes"):
        assert after[part] == before[part] and after[part], part
    assert (board / "README.md").read_text() == before_md


def test_non_standard_submissions_are_listed_apart(tiny_board, tmp_path: Path, capsys) -> None:
    board, data = tiny_board
    assert main(["submit", "random-mf", *submit_args(data, board, budgets="5", seeds="0")]) == 0
    assert main(["leaderboard", "build", "--board", str(board), "--data-dir", str(data)]) == 0
    assert "not ranked (not on the standard protocol" in capsys.readouterr().out
    readme = (board / "README.md").read_text()
    assert "| random-mf |" not in readme and "`tiny--random-mf.json`" in readme


@pytest.mark.slow
def test_submit_never_overwrites_or_escapes_without_being_asked(tiny_board, tmp_path: Path, capsys) -> None:
    board, data = tiny_board
    path = board / "submissions" / "tiny--ed-mf.json"
    before = path.read_bytes()
    common = submit_args(data, board, budgets="5", seeds="0")  # what is refused or replaced, not what it scores
    assert main(["submit", "qr-mf", "--name", "ed-mf", *common]) == 2
    assert "exists: pass --replace" in capsys.readouterr().err and path.read_bytes() == before
    assert main(["submit", "qr-mf", "--name", "../../x", *common]) == 2
    assert "not a safe file name" in capsys.readouterr().err and not (tmp_path / "x.json").exists()
    assert main(["submit", "ed-mf", "--replace", *common]) == 0


def test_build_and_generate_refuse_to_replace_a_folder_that_is_not_a_suite(
    upstream: Path, tmp_path: Path, capsys
) -> None:
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

    text = (
        (ROOT / "datasets" / "mini" / "spec.toml").read_text().replace('id = "digits-0to9-g32th"', 'id = "../../../x"')
    )
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
        (
            "metadata.json",
            lambda f: _edited(f, lambda m: m["normalizers"].__setitem__("max_memory_mb", 1.0)),
            "do not match the fingerprint",
        ),
        (
            "metadata.json",
            lambda f: _edited(f, lambda m: m["normalizers"].__setitem__("cap_rule", "row-median")),
            "do not match the fingerprint",
        ),
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


def test_an_upgrade_that_would_change_the_data_fingerprint_writes_nothing(tmp_path: Path) -> None:
    """A suite whose stored normalizers disagree with its memory matrix (resealed so it still loads) would get
    a new fingerprint when written anew: the upgrade is refused before any folder is made."""
    from peppp_bench.suites.suite import content_sha256, upgrade_suite

    folder = synthetic_suite(tmp_path / "tiny")
    bench = read_suite(folder)
    meta = json.loads((folder / "metadata.json").read_text())
    meta["normalizers"]["max_memory_mb"] *= 2
    meta["data_sha256"] = content_sha256(
        bench.E, bench.M, bench.dataset_ids, bench.configurations, meta["normalizers"], bench.datasets
    )
    _resealed(folder, "metadata.json", json.dumps(meta).encode())
    assert read_suite(folder).data_sha256 == meta["data_sha256"]
    before = sorted(tmp_path.iterdir())
    with pytest.raises(SuiteError, match="would change its data fingerprint; nothing was written"):
        upgrade_suite(folder, tmp_path / "new")
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.slow(seconds=30)
def test_a_spot_check_re_runs_some_mask_seeds_and_catches_a_forgery_there(os_sandbox, tiny_board, capsys) -> None:
    """CI's sampled re-runs re-run only some mask seeds and settings (--spot-seeds, --spot-settings): the output
    names them, and a forged submission whose mark carries every right hash is caught when the folds it forged
    are the ones re-run."""
    from peppp_bench.board.leaderboard import _summary_of, folds_frame
    from peppp_bench.board.verify import harness_fingerprint, key_of, read_marks, write_marks

    board, data = tiny_board
    spot = ["leaderboard", "validate", "--board", str(board), "--data-dir", str(data), "--sample", "2"]
    spot += ["--spot-seeds", "1", "--spot-settings", "1", "--sample-seed", "abc"]
    assert main(spot) == 0
    out = capsys.readouterr().out
    assert len(re.findall(r"valid, verified \(re-run: sampled; mask seed \d, setting [IVX]+\)", out)) == 2
    path = board / "submissions" / "tiny--cheap-mean.json"
    sub = json.loads(path.read_text())
    for row in sub["folds"]["rows"]:  # every fold forged: whichever seed and setting the spot check draws
        row[5] = 0.0  # made-up HyperDiff
    sub["summary"] = _summary_of(folds_frame(sub))
    write_submission(sub, board / "submissions")
    marks = read_marks(board)
    key = key_of(path, sub, board.parent, peppp_bench.load("tiny", data_dir=data).data_sha256, harness_fingerprint())
    marks["tiny--cheap-mean.json"] = {**key.as_dict(), "verified": True}
    write_marks(board, marks)
    assert main(spot) == 1
    out = capsys.readouterr().out
    assert "tiny--cheap-mean.json: INVALID" in out and "does not reproduce its folds" in out
    assert "tiny--ed-mf.json: valid, verified (re-run: sampled; mask seed " in out


def _forge(board: Path, data: Path, name: str = "tiny--cheap-mean.json") -> None:
    """Make up every fold's HyperDiff and write a mark with every right hash, as a forger would."""
    from peppp_bench.board import verify
    from peppp_bench.board.leaderboard import _summary_of, folds_frame

    path = board / "submissions" / name
    sub = json.loads(path.read_text())
    for row in sub["folds"]["rows"]:  # every mask seed: whichever a spot check draws
        row[5] = 0.0
    sub["summary"] = _summary_of(folds_frame(sub))
    write_submission(sub, board / "submissions")
    marks = verify.read_marks(board)
    harness = verify.harness_fingerprint()
    key = verify.key_of(path, sub, board.parent, peppp_bench.load("tiny", data_dir=data).data_sha256, harness)
    marks[name] = {**key.as_dict(), "verified": True}
    verify.write_marks(board, marks)


@pytest.mark.slow
def test_ci_cannot_be_steered_by_the_dates_of_the_commits_under_test(
    os_sandbox, tiny_board, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The forger commits a forged submission with a right mark, then a commit dated a day ahead: CI, which
    once took the commit before the newest one three hours older as its base, now takes no date into
    account; without a base from the CI system it spot-checks every submission and catches the forgery."""
    import subprocess

    board, data = tiny_board
    repo = board.parent
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "board")
    _forge(board, data)
    _git(repo, "commit", "-q", "-am", "forged, with a fresh mark")
    ahead = {**os.environ, "GIT_COMMITTER_DATE": "2099-01-01T00:00:00", "GIT_AUTHOR_DATE": "2099-01-01T00:00:00"}
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "warp",
        ],
        check=True,
        env=ahead,
    )
    monkeypatch.delenv("PEPPP_CI_BASE", raising=False)
    capsys.readouterr()
    assert main(["leaderboard", "validate", "--board", str(board), "--data-dir", str(data), "--ci"]) == 1
    captured = capsys.readouterr()
    assert "no trusted base commit" in captured.err
    assert "tiny--cheap-mean.json: INVALID" in captured.out and "does not reproduce its folds" in captured.out
    assert "tiny--ed-mf.json: valid, verified (re-run: sampled; mask seed " in captured.out


@pytest.mark.slow(seconds=60)
def test_a_forgery_inside_a_harness_wide_re_mark_is_re_run_in_full(
    os_sandbox, tiny_board, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A harness change renews every mark; a forged submission slipped in among them is re-run in full
    against the base the CI system names, as is every other renewed mark."""
    from peppp_bench.board import verify

    board, data = tiny_board
    repo = board.parent
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "board")
    base = subprocess_out(repo, "rev-parse", "HEAD")
    monkeypatch.setattr(verify, "harness_fingerprint", lambda: "the harness after a change")
    capsys.readouterr()
    assert main(["leaderboard", "validate", "--board", str(board), "--data-dir", str(data), "--all"]) == 0
    assert capsys.readouterr().out.count("(re-run: --all)") == 2
    _forge(board, data)
    _git(repo, "commit", "-q", "-am", "harness change: every mark renewed (and one forged)")
    monkeypatch.setenv("PEPPP_CI_BASE", base)
    capsys.readouterr()
    assert main(["leaderboard", "validate", "--board", str(board), "--data-dir", str(data), "--ci"]) == 1
    out = capsys.readouterr().out
    assert "tiny--cheap-mean.json: INVALID" in out and "does not reproduce its folds" in out
    assert "tiny--ed-mf.json: valid, verified (re-run: changed since the compared commit)" in out  # in full


def subprocess_out(repo: Path, *args: str) -> str:
    import subprocess

    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()
