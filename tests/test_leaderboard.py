"""Submissions, validation of tampered files, the end-to-end submit path, and the built board."""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path

import pytest

import baselines
import peppp_bench
from peppp_bench.board.leaderboard import make_submission, validate, write_submission
from peppp_bench.cli import main
from tests.conftest import BOARD_ROWS, USER_METHOD

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def submission(tiny) -> dict:
    method = baselines.make("ed-mf", rank=4)
    ev = peppp_bench.evaluate(method, tiny, settings=("I", "II"), budgets=(4, 5), workers=1, progress=False, seeds=(0,))
    return make_submission(ev, method.name, authors="tests", description="ED-MF", code="baselines:EDMF")


def test_a_fresh_submission_is_valid_and_round_trips(submission, tiny, tmp_path: Path) -> None:
    assert validate(submission, {"tiny": tiny}) == []
    path = write_submission(submission, tmp_path)
    assert path.name == "tiny--ed-mf.json" and json.loads(path.read_text()) == submission
    assert "best_error" not in submission["folds"]["columns"]  # no raw matrix values in submissions


def test_only_the_standard_hold_out_is_ranked(submission) -> None:
    """A submission records its hold-out; the board ranks "auto" (and files from before the field) only."""
    from peppp_bench.board.leaderboard import STANDARD, STANDARD_SETTINGS, standard

    sub = copy.deepcopy(submission) | {"settings": STANDARD_SETTINGS[0], **STANDARD}
    assert sub["holdout"] == "auto" and standard(sub)
    assert standard({k: v for k, v in sub.items() if k != "holdout"})
    assert not standard(sub | {"holdout": "loo"}) and not standard(sub | {"holdout": "groups"})


@pytest.mark.parametrize(
    "tamper, reason",
    [
        (lambda s: s["summary"]["rows"][0].__setitem__(5, 0.0001), "summary does not match the per-fold results"),
        (lambda s: s["suite"].__setitem__("data_sha256", "0" * 64), "data sha256 0000"),
        (lambda s: s["folds"].__setitem__("rows", s["folds"]["rows"][:-3]), "3 folds missing"),
        (lambda s: s.__setitem__("protocol_version", "0.9"), "protocol version 0.9 is incompatible"),
        (lambda s: s["method"].pop("code"), "schema: 'code' is a required property"),
        (lambda s: s["folds"]["rows"].append(list(s["folds"]["rows"][0])), "duplicate fold rows"),
    ],
)
def test_tampered_submissions_are_caught(submission, tiny, tamper, reason: str) -> None:
    bad = copy.deepcopy(submission)
    tamper(bad)
    problems = validate(bad, {"tiny": tiny})
    assert any(reason in p for p in problems), problems


def test_submit_validate_build_end_to_end(os_sandbox, tiny_board, capsys) -> None:
    """The shared board's two submissions (a user's file from outside the board, and ed-mf), submitted and
    re-run when it was made: the code travels with the board, both are verified, and the board builds the same
    bytes twice."""
    board, data = tiny_board
    assert (board / "methods" / "cheap-mean.py").read_text() == USER_METHOD
    sub = json.loads((board / "submissions" / "tiny--cheap-mean.json").read_text())
    assert sub["method"]["code"] == "leaderboard/methods/cheap-mean.py:CheapMean"
    assert main(["leaderboard", "validate", "--board", str(board), "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert "tiny--cheap-mean.json: valid, verified" in out and "tiny--ed-mf.json: valid, verified" in out
    assert main(["leaderboard", "build", "--board", str(board), "--data-dir", str(data)]) == 0
    readme = (board / "README.md").read_text()
    assert "| cheap-mean | ✓ |" in readme and "| ed-mf | ✓ |" in readme
    data_json = json.loads((board / "board.json").read_text())
    assert {c["method"] for c in data_json["cells"]} == {"cheap-mean", "ed-mf"}
    first = (board / "index.html").read_bytes(), (board / "README.md").read_bytes()
    assert main(["leaderboard", "build", "--board", str(board), "--data-dir", str(data)]) == 0
    assert ((board / "index.html").read_bytes(), (board / "README.md").read_bytes()) == first  # byte-identical


def test_invalid_submissions_are_listed_and_left_off(tiny_board, tmp_path: Path, capsys) -> None:
    board, data = tiny_board
    path = board / "submissions" / "tiny--cheap-mean.json"
    sub = json.loads(path.read_text())
    sub["summary"]["rows"][0][5] = 12.34  # convergence_mean of the first row
    path.write_text(json.dumps(sub))
    (board / "submissions" / "broken.json").write_text("{not json")
    assert main(["leaderboard", "validate", "--board", str(board), "--data-dir", str(data), "--no-rerun"]) == 1
    out = capsys.readouterr().out
    assert "tiny--cheap-mean.json: INVALID" in out and "summary does not match" in out and "broken.json: INVALID" in out
    assert main(["leaderboard", "build", "--board", str(board), "--data-dir", str(data)]) == 0
    assert "left off the board: tiny--cheap-mean.json" in capsys.readouterr().out
    assert "cheap-mean" not in (board / "README.md").read_text()


def test_a_negative_control_suite_is_labelled_on_the_board(tiny_board) -> None:
    """A suite whose metadata names a negative control is labelled in the board's Markdown, page and board.json."""
    from peppp_bench.board.render import NEGATIVE_CONTROL_SUITE, render

    board, _ = tiny_board
    subs = [json.loads(p.read_text()) for p in sorted((board / "submissions").glob("*.json"))]
    markdown, page, as_json = render(subs, {}, noise={"tiny": {"negative_control": "It has no signal."}})
    assert f"**{NEGATIVE_CONTROL_SUITE}** It has no signal." in markdown
    assert json.loads(as_json)["negative_control_suites"] == {"tiny": "It has no signal."}
    assert '"negative_control":"It has no signal."' in page
    markdown, _, as_json = render(subs, {}, noise={"tiny": {}})
    assert NEGATIVE_CONTROL_SUITE not in markdown and json.loads(as_json)["negative_control_suites"] == {}


@pytest.mark.slow
def test_a_method_that_does_not_reproduce_is_not_verified(os_sandbox, tiny_board, tmp_path: Path, capsys) -> None:
    board, data = tiny_board
    code = board / "methods" / "cheap-mean.py"
    code.write_text(USER_METHOD.replace("np.mean(", "0.01 + np.mean("))
    assert main(["leaderboard", "validate", "--board", str(board), "--data-dir", str(data)]) == 1
    assert "does not reproduce its folds" in capsys.readouterr().out


def test_committed_submissions_are_valid(suites_dir: Path) -> None:
    """What is on the committed board passes validation (CI also re-runs them: .ci/run)."""
    from peppp_bench.board.leaderboard import check_all

    suites = {"paper": peppp_bench.load("paper", data_dir=suites_dir)}
    for name in {p.name.split("--")[0] for p in (ROOT / "leaderboard" / "submissions").glob("*.json")} - {"paper"}:
        suites[name] = peppp_bench.load(name)  # the bundled suites (mini, mini-arch, modern-mini)
    checks = check_all(ROOT / "leaderboard" / "submissions", suites, ROOT, rerun=False)
    assert checks and all(c.valid for c in checks), [c for c in checks if not c.valid]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


OVERLAPS = """
const hit = (a, b) =>
  a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
const found = [];
for (const box of document.querySelectorAll("#charts-n .chart-box")) {
  const labels = [...box.querySelectorAll("svg text, .legend li")].map(e => [e.textContent, e.getBoundingClientRect()]);
  labels.forEach(([a, ra], i) => labels.slice(i + 1).forEach(([b, rb]) => {
    if (hit(ra, rb)) found.push(a + " / " + b);
  }));
  const plot = box.querySelector("svg").getBoundingClientRect();
  if (hit(plot, box.querySelector(".legend").getBoundingClientRect())) found.push("legend on the plot");
}
return found;
"""


def test_index_html_in_headless_chromium(tiny_board, tmp_path: Path) -> None:
    if _chromium() is None or shutil.which("chromedriver") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium and chromium-driver (.ci/run does)")
        pytest.skip("chromium / chromedriver not installed")
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    board, data = tiny_board
    main(["leaderboard", "build", "--board", str(board), "--data-dir", str(data)])
    options = webdriver.ChromeOptions()
    options.binary_location = _chromium()
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(shutil.which("chromedriver")))
    try:
        driver.set_window_size(1400, 1000)
        driver.get((board / "index.html").as_uri())
        rows = driver.find_elements(By.CSS_SELECTOR, "#board tbody tr")
        assert sorted(r.get_attribute("data-method") for r in rows) == ["cheap-mean", "ed-mf"]
        driver.find_element(By.CSS_SELECTOR, "#board th[data-key='name']").click()
        names = [r.get_attribute("data-method") for r in driver.find_elements(By.CSS_SELECTOR, "#board tbody tr")]
        assert names == ["cheap-mean", "ed-mf"]
        driver.find_element(By.CSS_SELECTOR, "#board th[data-key='name']").click()
        names = [r.get_attribute("data-method") for r in driver.find_elements(By.CSS_SELECTOR, "#board tbody tr")]
        assert names == ["ed-mf", "cheap-mean"]
        settings = Select(driver.find_element(By.ID, "setting"))
        assert [o.text for o in settings.options] == ["I", "II", "III", "IV", "V", "VI"]
        settings.select_by_visible_text("IV")
        Select(driver.find_element(By.ID, "budget")).select_by_visible_text("15")
        header = driver.find_element(By.CSS_SELECTOR, "#board th[data-key='frontier_regret']").text
        assert "n=15" in header and len(driver.find_elements(By.CSS_SELECTOR, "#charts-n svg")) == 3
        cells = driver.find_elements(By.CSS_SELECTOR, "#board tr[data-method='cheap-mean'] td")
        assert "[" in cells[2].text and cells[-1].text == "0"  # mean [interval]; no failed fold
        assert cells[-2].text in ("top", "") and 0 <= float(cells[-3].text) <= 1  # group, P(best)
        overlaps = driver.execute_script(OVERLAPS)  # the metric charts' labels: none on another, none on a plot
        assert overlaps == [], overlaps
        datasets = Select(driver.find_element(By.ID, "dataset"))
        assert len(datasets.options) == BOARD_ROWS
        datasets.select_by_visible_text("toy-03")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#frontier-svg circle")) >= 99
        artifacts = Path(os.environ.get("PEPPP_BENCH_ARTIFACTS", ROOT / "artifacts"))
        artifacts.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(artifacts / "leaderboard.png"))
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    finally:
        driver.quit()
