"""docs/ is what its generator writes (python -m siamcli.cli.docs docs), its help pages are what the
installed executable prints, every environment variable the source reads is listed, the man page is
well-formed roff that groff renders, and every link between the pages leads somewhere."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from hypothesis import given, strategies as st

from siamcli.cli.docs import COMMANDS_DIR, GUIDES, REGENERATE, manpage
from siamcli.cli.docs import environment as env_doc

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
MAN = DOCS / "siamcli.1"


def generated_into(folder: Path) -> dict[str, str]:
    """Run the generator in a fresh process (nothing registered by other tests) into `folder`."""
    run = subprocess.run([sys.executable, "-m", "siamcli.cli.docs", str(folder)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, COLUMNS="37", LINES="5"))
    assert run.returncode == 0, run.stderr
    return {str(p.relative_to(folder)): p.read_text(encoding="utf-8") for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_docs_are_what_the_generator_writes(tmp_path):
    """Whatever the terminal (COLUMNS=37 here), the generator writes the same pages; docs/ holds them."""
    fresh = generated_into(tmp_path)
    stale = [name for name, text in fresh.items() if not (DOCS / name).is_file()
             or (DOCS / name).read_text(encoding="utf-8") != text]
    assert not stale, f"docs/ is stale in {stale}: regenerate it with `{REGENERATE}`"
    pages = {str(p.relative_to(DOCS)) for p in (DOCS / COMMANDS_DIR).iterdir()}
    assert pages == {name for name in fresh if name.startswith(COMMANDS_DIR + "/")}, "pages of no command"
    hand_written = {p.name for p in DOCS.iterdir() if p.is_file()} - set(fresh)
    assert hand_written == {page for page, _, _ in GUIDES}, "docs/ holds pages the index does not list"


def test_docs_command_pages_hold_each_commands_current_help():
    """The fast loop's check (test_docs_are_what_the_generator_writes runs the whole generator)."""
    from siamcli.cli.docs import command_docs

    for doc in command_docs():
        page = (DOCS / doc.page).read_text(encoding="utf-8")
        assert f"$ {doc.name} --help\n{doc.help_text}\n```" in page, f"{doc.page} is stale: run `{REGENERATE}`"


def test_docs_write_reports_changes_and_removes_pages_of_commands_that_are_gone(tmp_path):
    from siamcli.cli.docs import pages, write

    first = write(str(tmp_path))
    assert sorted(first) == sorted(pages())
    (tmp_path / COMMANDS_DIR / "gone.md").write_text("a command that was removed")
    (tmp_path / "metrics.md").write_text("edited by hand")
    assert sorted(write(str(tmp_path))) == [f"{COMMANDS_DIR}/gone.md", "metrics.md"]
    assert not (tmp_path / COMMANDS_DIR / "gone.md").exists()
    assert write(str(tmp_path)) == []


def test_docs_check_says_whether_the_folder_is_current(tmp_path, capsys):
    from siamcli.cli.docs import main

    assert main(["--check", str(tmp_path)]) == 1
    assert main([str(tmp_path)]) == 0
    assert main(["--check", str(tmp_path)]) == 0
    (tmp_path / "formats.md").write_text("edited by hand")
    assert main(["--check", str(tmp_path)]) == 1
    assert "stale: formats.md" in capsys.readouterr().err
    assert main(["--no-such-option"]) == 2
    assert capsys.readouterr().err.startswith("Error: unexpected --no-such-option; usage:")
    assert main(["--help"]) == 0 and capsys.readouterr().out.startswith("usage: python -m siamcli.cli.docs")


def command_pages() -> list[Path]:
    return sorted((DOCS / COMMANDS_DIR).glob("*.md"))


def test_docs_have_a_page_for_every_command_and_subcommand():
    from siamcli.cli import cli

    expected = {"siamcli"}
    for name, command in cli.commands.items():
        expected.add(name)
        expected.update(f"{name}-{sub}" for sub in getattr(command, "commands", {}))
    assert {p.stem for p in command_pages()} == expected
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    assert all(f"]({COMMANDS_DIR}/{name}.md)" in index for name in expected)
    assert REGENERATE in index


@pytest.mark.slow
@pytest.mark.parametrize("page", command_pages(), ids=lambda p: p.stem)
def test_docs_help_pages_are_what_the_installed_executable_prints(page):
    """At COLUMNS=100 in a real process, as a person would run it."""
    command, shown = re.search(r"```text\n\$ (siamcli.*?) --help\n(.*?)\n```", page.read_text(encoding="utf-8"),
                               re.S).groups()
    executable = shutil.which("siamcli", path=os.path.dirname(sys.executable)) or shutil.which("siamcli")
    run = subprocess.run([executable, *command.split()[1:], "--help"], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, COLUMNS="100", LINES="25"))
    assert run.returncode == 0
    assert run.stdout.rstrip("\n") == shown


def names_the_source_reads() -> set[str]:
    """Environment variables named in siamcli's source: os.environ.get / [...] / getenv, and *_ENV constants."""
    pattern = re.compile(r"""(?:environ\.get\(|environ\[|getenv\(|_ENV\s*=\s*)\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""")
    found = set()
    for path in (ROOT / "siamcli").rglob("*.py"):
        found.update(pattern.findall(path.read_text(encoding="utf-8")))
    return found


def test_docs_list_every_environment_variable_the_source_reads():
    read = names_the_source_reads()
    assert {"SIAMCLI_DEBUG", "SIAMCLI_SCHEDULER", "SIAMCLI_NO_WORKERS_TIMEOUT"} <= read  # the scan finds them
    assert read <= env_doc.every_name(), f"not documented: {read - env_doc.every_name()}"
    page = (DOCS / "environment.md").read_text(encoding="utf-8")
    man = MAN.read_text(encoding="utf-8")
    environment = man[man.index(".SH ENVIRONMENT"):man.index(".SH", man.index(".SH ENVIRONMENT") + 1)]
    for name in env_doc.every_name():
        assert f"`{name}`" in page
        assert manpage.roff(name) in environment, name


def test_man_page_is_man_roff_with_every_section_command_and_option():
    from siamcli.cli import cli

    text = MAN.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0].startswith('.\\"') and lines[1].startswith(".TH SIAMCLI 1 ")
    sections = [line[4:] for line in lines if line.startswith(".SH ")]
    assert sections[:4] == ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS"]
    assert {"ENVIRONMENT", "EXIT STATUS", "SEE ALSO", "METRICS"} <= set(sections)
    macros = {'.\\"', ".TH", ".SH", ".SS", ".TP", ".B", ".PP", ".nf", ".fi", ".RS", ".RE", ".nh", ".ad"}
    assert all(line.split(" ")[0] in macros for line in lines if line.startswith((".", "'"))), "a stray control line"
    assert text.isascii()
    for name, command in cli.commands.items():
        for path in [name, *(f"{name} {sub}" for sub in getattr(command, "commands", {}))]:
            assert f'.SS "siamcli {manpage.roff(path)} ' in text, path
        for sub in [command, *getattr(command, "commands", {}).values()]:
            options = [p for p in sub.params if isinstance(p, click.Option) and not p.hidden]
            for opt in (opt for option in options for opt in option.opts):
                assert manpage.roff(opt) in text, (name, opt)
        assert manpage.roff("--p") in text and manpage.roff("--cov-from") in text  # the metrics' parameters


def groff(source: str) -> subprocess.CompletedProcess:
    return subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-rLL=100n"], input=source, capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, GROFF_NO_SGR="1"))


def plain(rendered: str) -> str:
    return re.sub(r".\x08", "", rendered)  # overstrike bold and underline, as groff writes for a tty


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed (apt-get install groff-base)")
def test_man_page_renders_with_groff_without_warnings():
    run = groff(MAN.read_text(encoding="utf-8"))
    assert run.returncode == 0 and run.stderr == "", run.stderr
    shown = plain(run.stdout)
    for heading in ("NAME", "SYNOPSIS", "COMMANDS", "ENVIRONMENT", "EXIT STATUS"):
        assert re.search(rf"^{heading}$", shown, re.M), heading
    assert "siamcli compare [OPTIONS] A [B]..." in shown
    assert "--top-k" in shown and "SIAMCLI_DEBUG" in shown


TRICKY = [".starts with a dot", "'starts with a quote", "back\\slash and \\fB not a font", "--top-k -m -",
          "ellipsis … and ± signs", "a.b / (|a| |b|)", "tabs\tand  spaces"]


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed (apt-get install groff-base)")
def test_man_roff_escaping_renders_the_text_as_written():
    """groff, an independent reader, shows each escaped text exactly as it was."""
    source = ".TH T 1\n.SH T\n.nf\n" + "\n".join(manpage.roff(text.replace("\t", " ")) for text in TRICKY) + "\n.fi\n"
    run = groff(source)
    assert run.stderr == ""
    shown = [line.strip() for line in plain(run.stdout).splitlines()]
    for text in TRICKY:
        assert text.replace("\t", " ") in shown, text


@given(st.text(max_size=40))
def test_man_roff_never_starts_a_control_line_and_is_ascii(text):
    escaped = manpage.roff(text)
    assert escaped.isascii()
    assert not any(line.startswith((".", "'")) for line in escaped.split("\n"))
    assert escaped.count("\n") == text.count("\n")


def links(page: Path) -> list[tuple[str, str]]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return re.findall(r"\]\(([^)\s#]*)(?:#([^)\s]*))?\)", text)


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.*)$", re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted(DOCS.rglob("*.md"))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_links_lead_to_pages_and_headings_that_exist(page):
    for target, anchor in links(page):
        if re.match(r"[a-z]+:", target):
            continue
        path = (page.parent / target).resolve() if target else page
        assert path.exists(), f"{page.name}: {target} does not exist"
        if anchor:
            assert anchor in anchors(path), f"{page.name}: no heading #{anchor} in {target or page.name}"
