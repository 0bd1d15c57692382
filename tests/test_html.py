"""The HTML report page: drawn from a Page (output/html.py) and from each report (reports/pages.py).

Pages are checked with the standard library's HTML parser (PageChecker): tags balanced, no script,
nothing loaded from elsewhere. Figures on pages are checked against numbers computed here.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from html.parser import HTMLParser

import numpy as np
import pytest

from siamcli.output.html import Page, render_page
from siamcli.reports import pages
from siamcli.results import Column, Document, Grid, key_value_grid

needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="matplotlib is the optional [plot] extra")
#: Elements without an end tag in HTML.
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
#: Elements a self-contained, script-free page has no use for.
FORBIDDEN = {"script", "iframe", "object", "embed", "link", "base", "frame", "applet", "noscript"}
#: Attributes that name something a browser may fetch.
REFERENCES = {"src", "href", "xlink:href", "srcset", "action", "data", "poster", "background", "formaction"}


class PageChecker(HTMLParser):
    """Parses a page and collects what is wrong with it: unbalanced tags, forbidden elements, event
    handlers, references to anything but the page itself or a data: URI. `text` is the page's text
    by section (h2 heading), `tables` the cells of each table, `svgs` the number of inline figures."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.stack, self.problems, self.tables, self.svgs, self.doctype = [], [], [], 0, None
        self.sections, self.text, self._heading = [], {"": []}, None
        self.feed(page)
        self.close()
        if self.stack:
            self.problems.append(f"not closed: {self.stack}")

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        self._element(tag, attrs)
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag == "h2":
            self._heading = ""

    def handle_startendtag(self, tag, attrs):
        self._element(tag, attrs)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()
        if tag == "h2":
            self.sections.append(self._heading.strip())
            self.text[self.sections[-1]] = []
            self._heading = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data
        elif "style" not in self.stack:
            self.text[self.sections[-1] if self.sections else ""].append(data)
        if self.stack and self.stack[-1] in ("td", "th") and self.tables and self.tables[-1]:
            self.tables[-1][-1].append(data)
        if "style" in self.stack and ("url(" in data or "@import" in data):
            self.problems.append(f"a stylesheet loads something: {data[:80]}")

    def _element(self, tag, attrs):
        self.svgs += tag == "svg"
        if tag in FORBIDDEN:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                self.problems.append(f"event handler {name} on <{tag}>")
            if name in REFERENCES and not (value.startswith("#") or value.startswith("data:")):
                self.problems.append(f"<{tag} {name}={value[:60]!r}> refers outside the page")
            if name == "style" and "url(" in value:
                self.problems.append(f"<{tag} style> loads {value[:60]}")

    def section(self, name: str) -> str:
        return " ".join(" ".join(self.text.get(name, [])).split())


def check_page(html: str) -> PageChecker:
    """The parsed page, once it is known to be well formed, script-free and self-contained."""
    page = PageChecker(html)
    assert page.doctype and page.doctype.lower() == "doctype html"
    assert page.problems == []
    return page


# --- the checker finds what it is meant to find --------------------------------------------------

@pytest.mark.parametrize("bad, problem", [
    ('<img src="http://example.com/x.png">', "refers outside"),
    ('<img src="x.png">', "refers outside"),
    ("<script>alert(1)</script>", "<script>"),
    ('<link rel="stylesheet" href="https://example.org/a.css">', "<link>"),
    ('<p onclick="x()">hi</p>', "event handler"),
    ("<style>@import url(https://example.org/a.css);</style>", "stylesheet loads"),
    ("<div><p>unclosed</div>", "closes"),
    ('<svg><use xlink:href="https://example.org/s.svg#a"/></svg>', "refers outside"),
])
def test_page_checker_finds_each_kind_of_problem(bad, problem):
    checker = PageChecker(f"<!DOCTYPE html><html><body>{bad}</body></html>")
    assert any(problem in p for p in checker.problems), checker.problems


# --- render_page -----------------------------------------------------------------------------------

def test_render_page_escapes_every_text_and_keeps_it_readable():
    hostile = "<script>alert('x')</script> & \"quoted\" <b>"
    grid = Grid([Column(hostile), Column("n", justify="right")], [[hostile, "1"]])
    html = render_page(Page(hostile, f"siamcli inspect '{hostile}'", [hostile], [hostile], [hostile, grid],
                            notes=[hostile]))
    page = check_page(html)
    assert "<script>" not in html and "<b>" not in html
    assert hostile in page.section("Findings")
    assert page.tables == [[[hostile, "n"], [hostile, "1"]]]
    assert f"siamcli inspect '{hostile}'" in page.section("")


def test_render_page_orders_findings_tables_figures():
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="5" height="5"/></svg>'
    grid = key_value_grid([("AUC", "0.9000")])
    page = check_page(render_page(Page("t", "siamcli x", ["one finding"], [], ["a line", grid], [("cap", svg)])))
    assert page.sections == ["Findings", "Tables", "Figures"]
    assert page.svgs == 1
    assert "cap" in page.section("Figures")
    assert page.tables == [[["AUC", "0.9000"]]]


def test_render_page_right_aligns_number_columns_and_keeps_borderless_grids_borderless():
    boxed = Grid([Column("model"), Column("AUC", justify="right")], [["a.npy", "0.5"]])
    html = render_page(Page("t", "c", blocks=[boxed, key_value_grid([("x", "1")])]))
    assert '<table class="boxed">' in html and '<table class="plain">' in html
    assert '<th class="right">AUC</th>' in html and '<td class="right">0.5</td>' in html
    assert "<td>a.npy</td>" in html


def test_render_page_leaves_out_table_lines_that_repeat_findings_and_headings_left_empty():
    blocks = ["/data/emb.npy:", "  not collapsed", "findings:", "  ! 3 rows are zero vectors", "",
              key_value_grid([("n", "10")]), "", "classes (euclidean):", Grid([Column("class")], [["a"]]), ""]
    page = check_page(render_page(Page("t", "c", ["not collapsed"], ["3 rows are zero vectors"], blocks)))
    tables = page.section("Tables")
    assert "findings:" not in tables and "/data/emb.npy:" not in tables and "not collapsed" not in tables
    assert "classes (euclidean):" in tables  # a heading over a table stays
    assert "not collapsed" in page.section("Findings")


def test_render_page_keeps_the_spacing_of_text_lines():
    bars = ["score   positive (#)", "0.1     ####", "0.2     ##########"]
    html = render_page(Page("t", "c", blocks=bars))
    assert '<pre class="text">' + "\n".join(bars) + "</pre>" in html


# --- report pages ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits_report():
    """Three classes in 12 dimensions of unequal spread, and their inspection."""
    import siamcli

    rng = np.random.default_rng(7)
    y = np.repeat(np.arange(3), 100)
    x = rng.normal(size=(3, 12))[y] * 2 + rng.normal(size=(300, 12)) * np.linspace(0.2, 2.0, 12)
    return siamcli.inspect_embeddings(x, classes=y, sample=300), x


@pytest.mark.slow
@needs_matplotlib
def test_inspection_page_holds_its_findings_tables_and_figure(digits_report):
    from sklearn.decomposition import PCA

    report, x = digits_report
    page = check_page(render_page(pages.report_page(report, "siamcli inspect digits.npy")))
    findings = page.section("Findings")
    for line in report.summary + report.warnings:
        assert " ".join(line.split()) in findings
    assert page.svgs == 1
    shares = PCA(n_components=2).fit(x).explained_variance_ratio_
    figures = page.section("Figures")
    assert f"PC1 ({shares[0]:.1%} of variance)" in figures and f"PC2 ({shares[1]:.1%} of variance)" in figures
    assert page.section("Tables").count("effective rank") == 1


def test_page_without_matplotlib_has_findings_tables_and_says_how_to_get_figures(digits_report, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what `import matplotlib` sees when it is absent
    report, _ = digits_report
    page = check_page(render_page(pages.report_page(report, "siamcli inspect digits.npy")))
    assert page.svgs == 0
    assert "pip install 'siamcli[plot]'" in page.section("Figures")
    assert page.tables and report.summary[0] in page.section("Findings")


@dataclass
class DriftLike(Document):
    """A report no page function knows (as `drift` before it has one)."""

    def record(self):
        return {"summary": ["the distribution moved"], "warnings": ["few rows"], "notes": ["sampled"]}

    def table_layout(self, precision):
        return ["drift:", "  the distribution moved", Grid([Column("figure"), Column("value")], [["MMD", "0.1"]])]


def test_a_report_without_a_page_function_gets_its_summary_and_tables():
    page = check_page(render_page(pages.report_page(DriftLike(), "siamcli drift a b")))
    assert page.sections == ["Findings", "Tables"]
    assert "the distribution moved" in page.section("Findings")
    assert "few rows" in page.section("Findings") and "sampled" in page.section("Findings")
    assert page.tables == [[["figure", "value"], ["MMD", "0.1"]]]


def test_a_report_whose_record_says_findings_gets_them_first():
    class Findings(DriftLike):
        def record(self):
            return {"findings": ["drift: MMD p = 0.001"], "drift": True}

    page = check_page(render_page(pages.report_page(Findings(), "siamcli drift a b")))
    assert page.sections[0] == "Findings" and "drift: MMD p = 0.001" in page.section("Findings")


def test_a_page_function_is_one_entry(monkeypatch):
    monkeypatch.setitem(pages.PAGES, DriftLike, lambda r: pages.PageParts("drift page", ["moved by 3 sigma"]))
    page = check_page(render_page(pages.report_page(DriftLike(), "siamcli drift a b")))
    assert "moved by 3 sigma" in page.section("Findings")


def test_write_report_is_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "report.html"
    path.write_text("previous report")

    def broken(page):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(pages, "render_page", broken)
    with pytest.raises(RuntimeError):
        pages.write_report(path, DriftLike(), "siamcli drift a b")
    assert path.read_text() == "previous report"
    monkeypatch.undo()
    assert pages.write_report(path, DriftLike(), "siamcli drift a b") == path
    check_page(path.read_text(encoding="utf-8"))
    assert os.listdir(tmp_path) == ["report.html"]  # no temporary left behind


@pytest.mark.slow
def test_same_report_gives_the_same_bytes(tmp_path, digits_report):
    report, _ = digits_report
    first, second = (pages.write_report(tmp_path / f"{k}.html", report, "siamcli inspect d.npy") for k in "ab")
    assert first.read_bytes() == second.read_bytes()


def test_evaluation_plot_names_curves_by_file_and_metric():
    import siamcli

    rng = np.random.default_rng(0)
    classes = np.repeat(np.arange(10), 8)
    good = rng.normal(size=(10, 16))[classes] + 0.3 * rng.normal(size=(80, 16))
    noise = rng.normal(size=(80, 16))
    result = siamcli.evaluate({"/x/good.npy": good, "/x/noise.npy": noise}, classes=classes,
                              metric="cosine,euclidean", bootstrap=0)
    args = pages.evaluation_plot(result)
    names = [c.name for c in args["curves"]]
    assert sorted(names) == ["good.npy cosine", "good.npy euclidean", "noise.npy cosine", "noise.npy euclidean"]
    best = result.best
    assert args["threshold"] == best.verification.best_accuracy_threshold
    assert args["eer_threshold"] == best.verification.eer_threshold
    assert args["threshold_name"] == "best-accuracy threshold"
    assert len(args["positive_scores"]) == int(best.same.sum())
