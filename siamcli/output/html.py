"""A report as one self-contained HTML page: the findings in words first, then the tables, then the figures.

Built with the standard library; every text goes through `html.escape`. Figures arrive as SVG
markup that siamcli drew itself and are placed inline. The page holds no script and loads
nothing (no stylesheet, font or image from elsewhere): it reads the same offline, as a CI
artifact or a mail attachment, and the same inputs give the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from ..results import Block, Fitted, Grid

#: The page's own look: one small stylesheet in the page, system fonts, tables that scroll when wide.
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #1b1b1b; background: #fff; line-height: 1.45; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.command { background: #f4f4f4; padding: 0.5em 0.7em; overflow-x: auto; white-space: pre-wrap;
           word-break: break-all; font-size: 0.9em; }
ul.findings li { margin: 0.25em 0; }
li.warning { color: #8a1c00; }
li.warning::before { content: "\\26A0  "; }
pre.text { white-space: pre-wrap; margin: 0.6em 0; font-size: 0.9em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { padding: 0.2em 0.7em; vertical-align: top; }
table.boxed th, table.boxed td { border: 1px solid #ccc; }
table.boxed th { background: #f0f0f0; }
td.right, th.right { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; overflow-x: auto; }
figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 0.9em; color: #444; }
.note { color: #555; font-style: italic; }
"""


@dataclass
class Page:
    """What a report page shows, in order: `findings` (and `warnings`) in words, `blocks` (a
    report's table_layout: lines of text and Grids), `figures` as (caption, SVG markup) pairs, and
    `notes` about the page itself (a figure not drawn, and why). `command` is the command line that
    made it, shown under the title with `made_by`."""

    title: str
    command: str
    findings: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    made_by: str = "siamcli"  # the program and its version, said beside the command


def render_page(page: Page) -> str:
    """The page as an HTML5 document (a str). Lines of the tables that repeat a finding are left out.

    >>> "<li>collapsed</li>" in render_page(Page("inspect", "siamcli inspect x.npy", ["collapsed"]))
    True
    """
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{escape(page.title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
             f"<h1>{escape(page.title)}</h1>",
             f"<p>Made by {escape(page.made_by)} with the command:</p>",
             f'<pre class="command"><code>{escape(page.command)}</code></pre>']
    if page.findings or page.warnings:
        items = [f"<li>{escape(line)}</li>" for line in page.findings]
        items += [f'<li class="warning">{escape(line)}</li>' for line in page.warnings]
        parts += ["<h2>Findings</h2>", '<ul class="findings">', *items, "</ul>"]
    blocks = _without_findings(page.blocks, {*page.findings, *page.warnings})
    if blocks:
        parts += ["<h2>Tables</h2>", *_blocks_html(blocks)]
    if page.figures or page.notes:
        parts.append("<h2>Figures</h2>")
    for caption, svg in page.figures:
        parts.append(f"<figure>\n{svg}\n<figcaption>{escape(caption)}</figcaption>\n</figure>")
    parts += [f'<p class="note">{escape(note)}</p>' for note in page.notes]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _without_findings(blocks: list[Block], said: set[str]) -> list[Block]:
    """The blocks without the text lines that only repeat a finding (a table opens with its words),
    without the headings ("findings:") left with nothing under them, and without blank lines at
    either end."""
    kept: list[Block] = []
    for block in reversed(blocks):
        if isinstance(block, str):
            text = block.strip()
            if text.lstrip("!").strip() in said:
                continue
            after = kept[-1] if kept else None
            if text.endswith(":") and (after is None or (isinstance(after, str) and (
                    not after.strip() or after.strip().endswith(":")))):
                continue  # a heading over nothing
        kept.append(block)
    kept.reverse()
    while kept and isinstance(kept[0], str) and not kept[0].strip():
        kept.pop(0)
    while kept and isinstance(kept[-1], str) and not kept[-1].strip():
        kept.pop()
    return kept


#: The width fitted blocks are drawn for on a page (a text histogram's bars stop at 40 characters anyway).
PAGE_COLUMNS = 100


def _blocks_html(blocks: list[Block]) -> list[str]:
    """Runs of text lines as preformatted text (their spacing means something: indents, bars), grids as tables;
    fitted lines (a text histogram) as drawn for PAGE_COLUMNS."""
    out, lines = [], []
    for block in [*blocks, None]:
        if isinstance(block, str):
            lines.append(block)
            continue
        if isinstance(block, Fitted):
            lines.extend(block.lines(PAGE_COLUMNS))
            continue
        while lines and not lines[-1].strip():
            lines.pop()
        if any(line.strip() for line in lines):
            out.append(f'<pre class="text">{escape(chr(10).join(lines).strip(chr(10)))}</pre>')
        lines = []
        if block is not None:
            out.append(_grid_html(block))
    return out


def _grid_html(grid: Grid) -> str:
    """A Grid as a table: right-justified columns aligned right; a borderless grid stays borderless."""
    align = [' class="right"' if c.justify == "right" else "" for c in grid.columns]
    rows = []
    if grid.show_header:
        rows.append("<thead><tr>" + "".join(f"<th{a}>{escape(c.name)}</th>" for a, c in zip(align, grid.columns))
                    + "</tr></thead>")
    body = ["<tr>" + "".join(f"<td{a}>{escape(str(cell))}</td>" for a, cell in zip(align, row)) + "</tr>"
            for row in grid.rows]
    rows.append("<tbody>" + "\n".join(body) + "</tbody>")
    kind = "boxed" if grid.box else "plain"
    return f'<div class="scroll"><table class="{kind}">\n' + "\n".join(rows) + "\n</table></div>"
