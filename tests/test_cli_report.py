"""--report FILE.html on evaluate, inspect and diff, through click's CliRunner and the installed executable,
and the pages in a real headless browser (Debian's chromium).

AUCs on the page are checked against scipy's Mann-Whitney U on distances computed here with numpy.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from test_cli import assert_one_error_line, invoke, run
from test_html import check_page

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "siamese"
EMB, PIXELS, PAIRS, LABELS = (EXAMPLES / name for name in ("test_embeddings.npy", "test_pixels.npy",
                                                           "test_pairs.csv", "test_labels.txt"))
METRICS = "cosine,euclidean,manhattan,chebyshev"  # 2 models x 4 metrics: 8 curves, 2 more than a panel draws
needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="matplotlib is the optional [plot] extra")


def reference_aucs() -> dict[tuple[str, str], float]:
    """(model file, metric) -> AUC of the listed pairs: the Mann-Whitney U of their distances (scipy) over
    n_same x n_different, on distances computed here with numpy."""
    from scipy.stats import mannwhitneyu

    roc_auc_score = lambda same, score: (  # noqa: E731
        mannwhitneyu(score[same], score[~same]).statistic / (same.sum() * (~same).sum()))

    distances = {  # of row pairs (a[i], b[i]), by their textbook formulas
        "cosine": lambda a, b: 1 - (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1),
        "euclidean": lambda a, b: np.sqrt(((a - b) ** 2).sum(1)),
        "manhattan": lambda a, b: np.abs(a - b).sum(1),
        "chebyshev": lambda a, b: np.abs(a - b).max(1),
    }

    with open(PAIRS) as handle:
        rows = list(csv.DictReader(handle))
    left, right = (np.array([int(r[key]) for r in rows]) for key in ("left", "right"))
    same = np.array([int(r["label"]) for r in rows]) == 1
    out = {}
    for path in (EMB, PIXELS):
        x = np.load(path).astype(np.float64)
        for metric in METRICS.split(","):
            out[(path.name, metric)] = roc_auc_score(same, -distances[metric](x[left], x[right]))  # closer: same
    return out


def without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what `import matplotlib` sees when it is absent


# --- evaluate ----------------------------------------------------------------------------------------

def test_evaluate_report_of_one_model_without_matplotlib(tmp_path, monkeypatch):
    without_matplotlib(monkeypatch)
    report = tmp_path / "one.html"
    result = run("evaluate", EMB, "--pairs", PAIRS, "--bootstrap", "0", "--report", report, "-f", "json")
    assert result.exit_code == 0, result.stderr
    page = check_page(report.read_text(encoding="utf-8"))
    auc = reference_aucs()[(EMB.name, "cosine")]
    assert f"cosine: AUC {auc:.4f}" in page.section("Findings")
    details = next(t for t in page.tables if t[0][0] == "ROC AUC")
    assert float(details[0][1]) == pytest.approx(auc, abs=5e-5)
    assert page.svgs == 0 and "pip install 'siamcli[plot]'" in page.section("Figures")


@pytest.mark.slow
@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_evaluate_report_of_two_models_holds_their_aucs_and_the_command(tmp_path, monkeypatch, entry):
    if entry == "runner":
        without_matplotlib(monkeypatch)  # the fast loop: no figure to draw
    report = tmp_path / "my report.html"
    args = ["evaluate", EMB, PIXELS, "--pairs", PAIRS, "-m", METRICS, "--bootstrap", "0", "-f", "jsonl"]
    code, out, err = invoke(entry, *args, "--report", report)
    assert code == 0, err
    assert f"wrote {report}" in err
    code_plain, out_plain, _ = invoke("runner", *args)
    assert (code_plain, out_plain) == (0, out)  # stdout is the same with or without --report
    page = check_page(report.read_text(encoding="utf-8"))
    assert page.sections[:2] == ["Findings", "Tables"]
    assert shlex.join(["siamcli", *map(str, args), "--report", str(report)]) in page.section("")
    from siamcli import __version__

    assert f"Made by siamcli {__version__} with the command:" in page.section("")
    findings = page.section("Findings")
    assert "2,000 listed pairs: 1,000 same, 1,000 different" in findings
    assert "test_embeddings.npy beats test_pixels.npy" in findings
    table = next(t for t in page.tables if t[0][:3] == ["model", "metric", "AUC"])
    shown = {(row[0], row[1]): float(row[2]) for row in table[1:]}
    expected = reference_aucs()
    assert set(shown) == set(expected)
    for key, auc in expected.items():
        assert shown[key] == pytest.approx(auc, abs=5e-5)  # shown to 4 decimals
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 8
    said = "--report draws the 6 best of 8 ROC and DET curves by AUC; left out: "
    assert (said in err) == (entry == "executable")  # only when figures are drawn
    if entry == "runner":
        assert page.svgs == 0 and "pip install 'siamcli[plot]'" in page.section("Figures")
    else:
        assert page.svgs == 1
        assert "6 best of 8 by AUC" in page.section("Figures")


@pytest.mark.slow
@needs_matplotlib
def test_evaluate_report_and_plot_together_name_the_curves_left_out(tmp_path):
    result = run("evaluate", EMB, PIXELS, "--pairs", PAIRS, "-m", METRICS, "--bootstrap", "0",
                 "--report", tmp_path / "r.html", "--plot", tmp_path / "r.png", "-f", "json")
    assert result.exit_code == 0, result.stderr
    expected = sorted(reference_aucs().items(), key=lambda item: -item[1])
    (note,) = [line for line in result.stderr.splitlines() if "left out" in line]
    for (model, metric), _ in expected[6:]:
        assert f"{model} {metric}" in note
    for (model, metric), _ in expected[:6]:
        assert f"{model} {metric}," not in note + ","
    page = check_page((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert page.svgs == 1
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
@needs_matplotlib
def test_evaluate_report_fails_its_gate_and_still_writes_the_page(tmp_path):
    result = run("evaluate", EMB, "--pairs", PAIRS, "--bootstrap", "0", "--fail-under", "auc=0.99999",
                 "--report", tmp_path / "gate.html", "-f", "json")
    assert result.exit_code == 1
    assert "--fail-under not met" in result.stderr
    check_page((tmp_path / "gate.html").read_text(encoding="utf-8"))


# --- inspect and diff -------------------------------------------------------------------------------

@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_inspect_report_puts_findings_before_tables_and_figures(tmp_path, monkeypatch, entry):
    if entry == "runner":
        without_matplotlib(monkeypatch)
    report = tmp_path / "inspect.html"
    code, out, err = invoke(entry, "inspect", EMB, "--classes", LABELS, "--report", report, "-f", "json")
    assert code == 0, err
    record = json.loads(out)
    page = check_page(report.read_text(encoding="utf-8"))
    assert page.sections == ["Findings", "Tables", "Figures"]
    findings = page.section("Findings")
    for line in record["summary"] + record["warnings"]:
        assert " ".join(line.split()) in findings
    per_class = next(t for t in page.tables if t[0][0] == "class")
    counts = np.unique(np.loadtxt(LABELS, dtype=str), return_counts=True)[1]
    assert [int(row[1].replace(",", "")) for row in per_class[1:]] == counts.tolist()
    assert page.svgs == (0 if entry == "runner" else 1)


@pytest.mark.parametrize("entry", ["runner", "executable"])
def test_diff_report_holds_the_overlap_in_words_and_the_items_table(tmp_path, monkeypatch, entry):
    if entry == "runner":
        without_matplotlib(monkeypatch)
    report = tmp_path / "diff.html"
    code, out, err = invoke(entry, "diff", EMB, PIXELS, "-k", "5", "--report", report, "-f", "json")
    assert code == 0, err
    record = json.loads(out)
    page = check_page(report.read_text(encoding="utf-8"))
    assert page.sections[:2] == ["Findings", "Tables"]
    for line in record["summary"]:
        assert " ".join(line.split()) in page.section("Findings")
    items = next(t for t in page.tables if t[0][0] == "index")
    assert len(items) == 1 + 10  # the table's ten most changed items
    assert [int(row[0]) for row in items[1:]] == [item["index"] for item in record["items"][:10]]
    assert page.svgs == (0 if entry == "runner" else 1)


# --- refused before any work ------------------------------------------------------------------------

@pytest.mark.parametrize("args, needle", [
    (["inspect", "{emb}", "--report", "{tmp}/r.txt"], "--report {tmp}/r.txt: an HTML report's name ends in .html"),
    (["inspect", "{emb}", "--report", "{tmp}/no such folder/r.html"], "no such folder"),
    (["inspect", "{emb}", "--report", "{tmp}/same.html", "--plot", "{tmp}/same.html"], "same.html"),
    (["evaluate", "{emb}", "--classes", "{tmp}/classes.html", "--report", "{tmp}/classes.html"],
     "--report {tmp}/classes.html is the --classes file"),
    (["diff", "{emb}", "{tmp}/b.html", "--report", "{tmp}/b.html"], "--report {tmp}/b.html is the input"),
])
def test_report_that_cannot_be_written_is_refused_in_one_line(tmp_path, args, needle):
    shutil.copy(EMB, tmp_path / "emb.npy")
    (tmp_path / "classes.html").write_text(LABELS.read_text())
    shutil.copy(PIXELS, tmp_path / "b.html")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    fill = lambda s: str(s).format(emb=tmp_path / "emb.npy", tmp=tmp_path)  # noqa: E731
    if "--plot" in args:
        pytest.importorskip("matplotlib")
    result = run(*map(fill, args))
    assert_one_error_line(result.exit_code, result.stdout, result.stderr, [fill(needle)])
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # inputs intact, nothing written


# --- a real browser ---------------------------------------------------------------------------------

def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium is not installed (.ci/run installs it with apt-get): the browser tests need it")
    return path


def render_in_chromium(page: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess, list[str], np.ndarray]:
    """Open `page` in headless chromium with every host name unresolvable; returns the process, the
    URLs the page itself asked the network for (from chromium's NetLog: requests whose network
    isolation key is the file:// page), and the screenshot as an RGBA array."""
    from matplotlib.image import imread

    shot, netlog = tmp_path / f"{page.stem}.png", tmp_path / f"{page.stem}.netlog.json"
    proc = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp_path / 'profile'}",
         f"--log-net-log={netlog}", "--window-size=1280,2000", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    events = json.loads(netlog.read_text())["events"] if netlog.exists() else []
    asked = [e["params"]["url"] for e in events
             if "url" in e.get("params", {}) and str(e["params"].get("network_isolation_key", "")).startswith("file:")]
    return proc, sorted(set(asked)), (imread(shot) if shot.exists() else np.zeros((1, 1, 4)))


@pytest.mark.slow
def test_browser_sees_the_requests_of_a_page_that_makes_them(tmp_path):
    """The detector of the test below, shown to work: an external image and stylesheet are seen."""
    chromium()
    pytest.importorskip("matplotlib")
    page = tmp_path / "external.html"
    page.write_text('<!DOCTYPE html><html><body><p>x</p><img src="http://example.com/x.png">'
                    '<link rel="stylesheet" href="https://example.org/a.css"></body></html>')
    proc, asked, _ = render_in_chromium(page, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert asked == ["http://example.com/x.png", "https://example.org/a.css"]


@pytest.mark.slow
@needs_matplotlib
@pytest.mark.parametrize("command", [
    ["evaluate", EMB, PIXELS, "--pairs", PAIRS, "-m", METRICS, "--bootstrap", "0"],
    ["inspect", EMB, "--classes", LABELS],
    ["diff", EMB, PIXELS],
], ids=["evaluate", "inspect", "diff"])
def test_report_renders_in_chromium_without_requests_or_errors(tmp_path, command):
    chromium()  # skips, saying why, before any work when there is none
    report = tmp_path / f"{command[0]}.html"
    result = run(*command, "--report", report, "-f", "json")
    assert result.exit_code == 0, result.stderr
    proc, asked, image = render_in_chromium(report, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert asked == []
    assert "CONSOLE" not in proc.stderr  # nothing written to the page's console (errors, warnings)
    assert image.shape[0] >= 1000 and image.shape[-1] in (3, 4)
    assert image.std() > 0.05  # not blank
    colours = np.unique(np.round(image[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > (100 if command[0] != "diff" else 20)  # text and tables; figures' colours too
