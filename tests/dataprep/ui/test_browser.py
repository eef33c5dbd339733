"""The pages in a real headless Chromium: they load with no console error, the
highlighted tokens are the row's trained labels, paging works on a large file, bad input
gets a clear page; a screenshot of each page is saved (``$DATAPREP_SCREENSHOTS``, else a
temporary folder)."""

from __future__ import annotations

import pytest
from ui_server import BIG_ROWS, wait_scanned

from dataprep.prepare.output import read_split

PAGES = [
    ("home", "/"),
    ("file", "/file/2"),
    ("file-filtered", "/file/2?code=invalid-json"),
    ("file-large", "/file/0?page=1234"),
    ("preference", "/file/7"),
    ("prepared", "/prepared/1"),
    ("row", "/prepared/1/row?n=0"),
    ("search", "/prepared/1/search?q=the"),
    ("rejects", "/prepared/1/rejects"),
    ("template", "/template/5"),
    ("folder", "/folder/3"),
    ("not-prepared", "/prepared/3"),
    ("damaged", "/prepared/4"),
    ("broken-file", "/file/6"),
    ("outside", "/file/3?rel=../bad.jsonl"),
]


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    p = context.new_page()
    p.errors = []  # type: ignore[attr-defined]
    p.on("console", lambda m: m.type == "error" and p.errors.append(m.text))
    p.on("pageerror", lambda exc: p.errors.append(str(exc)))
    yield p
    context.close()


@pytest.mark.parametrize(("name", "path"), PAGES, ids=[n for n, _ in PAGES])
def test_page_loads_without_console_errors(server, page, screenshots, name, path):
    for number in (0, 2, 7):
        wait_scanned(server, number)
    response = page.goto(server + path, wait_until="load")
    page.wait_for_load_state("networkidle")
    # Bad input answers 4xx; the browser logs that status as a console error, which is
    # the page's own status, not a fault of the page.
    status = response.status if response else 0
    errors = [e for e in page.errors if not (status >= 400 and "status of" in e)]
    assert errors == []
    assert "Traceback" not in page.content()
    assert page.locator("main h1").count() == 1
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=False)


def test_highlighted_tokens_are_the_rows_trained_labels(server, page, prepared):
    table = read_split(prepared)  # read here, independently of the ui
    for n in range(table.num_rows):
        page.goto(f"{server}/prepared/1/row?n={n}")
        flags = page.eval_on_selector_all(
            ".tok", "els => els.map(e => e.classList.contains('trained'))"
        )
        ids = page.eval_on_selector_all(".tok", "els => els.map(e => Number(e.dataset.id))")
        docs = page.eval_on_selector_all(
            "section.doc", "els => els.map(e => e.querySelectorAll('.tok').length)"
        )
        labels = table.column("labels")[n].as_py()
        assert ids == table.column("input_ids")[n].as_py()
        assert flags == [label != -100 for label in labels]
        assert docs == table.column("seq_lengths")[n].as_py()
        assert any(flags) and not all(flags)


def test_paging_a_large_file_with_links_and_keys(server, page):
    wait_scanned(server, 0)
    page.goto(f"{server}/file/0?size=10")
    first = page.locator("article.row h3").first.inner_text()
    page.locator("a[rel=next]").first.click()
    page.wait_for_url("**page=1**")
    assert page.locator("article.row").count() == 10
    assert page.locator("article.row .content").first.inner_text().startswith("row 10:")
    page.keyboard.press("ArrowLeft")
    page.wait_for_url("**page=0**")
    assert page.locator("article.row h3").first.inner_text() == first
    last = BIG_ROWS // 10 - 1
    page.goto(f"{server}/file/0?size=10&page={last}")
    assert (
        page.locator("article.row .content").first.inner_text().startswith(f"row {BIG_ROWS - 10}:")
    )
    assert page.locator("a[rel=next]").count() == 0


def test_jump_to_a_problem(server, page):
    wait_scanned(server, 2)
    page.goto(f"{server}/file/2?size=1")
    page.locator(".problem-list a", has_text="line 5").first.click()
    page.wait_for_url("**line=5**")
    assert page.locator("article.row.here h3").inner_text().startswith("line 5")


@pytest.mark.parametrize(
    ("path", "words"),
    [("/prepared/3", "is not a prepared folder"), ("/file/3?rel=../bad.jsonl", "not a file inside"),
     ("/file/6", "broken.parquet"), ("/prepared/4", "damaged")],
)  # fmt: skip
def test_bad_input_gets_a_clear_page(server, page, path, words):
    page.goto(server + path)
    assert words in page.locator(".error-message").inner_text()
