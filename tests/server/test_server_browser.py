"""The search page and the API docs in a real browser (Debian's Chromium driven by Playwright), with
every request that leaves 127.0.0.1 blocked: the page and /docs must work offline."""

import os
import shutil

import pytest

from encoderkit import Index
from encoderkit.server.app import create_app
from encoderkit.server.config import ServerConfig
from support.servers import thread_server

CHROMIUM = os.environ.get("ENCODERKIT_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
KEY = "browser-test-key-0123456789"
DOCS = [
    {
        "id": "cats",
        "title": "Cats",
        "path": "pets/cats.md",
        "text": "Cats purr when they are content. They sleep most of the day in the sun.",
    },
    {
        "id": "dogs",
        "title": "Dogs",
        "path": "pets/dogs.md",
        "text": "Dogs need a daily walk. "
        + "Filler sentence about nothing in particular. " * 30
        + "Dogs bark at strangers in the park.",
    },
    {
        "id": "owls",
        "title": "Owls",
        "path": "birds/owls.md",
        "text": "Owls hunt at night. Their feathers make their flight silent.",
    },
]

pytestmark = pytest.mark.skipif(
    not (shutil.which(CHROMIUM) or os.path.exists(CHROMIUM)), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
)


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, tiny_encoder):
    path = tmp_path_factory.mktemp("browser") / "ix"
    index = Index.create(path, encoder=tiny_encoder, chunk_size=48, chunk_overlap=8)
    index.add(DOCS, export_onnx=False)
    index.close()
    return path


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def offline_page(browser, base):
    page = browser.new_page()
    outside = []

    def route(r):
        if r.request.url.startswith(base):
            return r.continue_()
        outside.append(r.request.url)
        return r.abort()

    page.route("**/*", route)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, outside, errors


def test_search_page_query_results_document(browser, index_dir):
    app = create_app(index_dir, ServerConfig())
    with thread_server(app) as base:
        page, outside, errors = offline_page(browser, base)
        page.goto(base + "/")
        page.wait_for_selector("#search-form:not([hidden])")
        assert page.eval_on_selector_all("#mode option", "els => els.map(e => e.value)")[:3] == ["hybrid", "bm25", "dense"]
        page.select_option("#mode", "bm25")
        page.keyboard.press("Escape")  # leave the box the page focused...
        page.keyboard.press("/")  # ...and come back to it with the keyboard
        page.keyboard.type("why do dogs bark at strangers")
        page.keyboard.press("Enter")
        page.wait_for_selector("#results li")
        titles = page.eval_on_selector_all("#results .hit-title", "els => els.map(e => e.textContent)")
        assert titles[0] == "Dogs"
        marks = {
            m.lower() for m in page.eval_on_selector_all("#results li:first-child mark", "els => els.map(e => e.textContent)")
        }
        assert {"dogs", "bark", "strangers"} <= marks
        page.keyboard.press("ArrowDown")  # from the box into the results
        page.keyboard.press("e")  # the per-stage explanation
        table = page.inner_text("#results li:first-child details.explain table")
        assert "bm25" in table and "final" in table
        page.keyboard.press("Enter")  # open the selected (first) result
        page.wait_for_selector("#doc:not([hidden])")
        assert page.inner_text("#doc-title") == "Dogs"
        match = page.inner_text("#doc-text mark#match")
        assert "bark at strangers" in match
        assert page.text_content("#doc-text") == DOCS[1]["text"]
        page.keyboard.press("Escape")
        page.wait_for_selector("#results:not([hidden])")
        page.keyboard.press("/")
        page.keyboard.press("Control+A")
        page.keyboard.type("cats sleep while owls hunt")
        page.keyboard.press("Enter")
        page.wait_for_selector("#results li:nth-child(2)")
        first = page.inner_text("#results li:first-child .hit-title")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("j")  # the second result, opened with the keyboard
        page.keyboard.press("o")
        page.wait_for_selector("#doc:not([hidden])")
        assert page.inner_text("#doc-title") in {"Cats", "Owls"} - {first}
        assert not outside and not errors, (outside, errors)
        page.close()


def test_search_page_asks_for_a_key(browser, index_dir):
    app = create_app(index_dir, ServerConfig(api_keys=(KEY,)))
    with thread_server(app) as base:
        page, outside, errors = offline_page(browser, base)
        page.goto(base + "/")
        page.wait_for_selector("#key-form:not([hidden])")
        page.fill("#key", "wrong-key-wrong-key-wrong")
        page.keyboard.press("Enter")
        page.wait_for_selector("#key-error:has-text('invalid API key')")
        page.fill("#key", KEY)
        page.keyboard.press("Enter")
        page.wait_for_selector("#search-form:not([hidden])")
        page.fill("#q", "owls hunting at night")
        page.keyboard.press("Enter")
        page.wait_for_selector("#results li")
        assert page.inner_text("#results li:first-child .hit-title") == "Owls"
        assert not outside and not errors, (outside, errors)
        page.close()


def test_api_docs_render_offline(browser, index_dir):
    app = create_app(index_dir, ServerConfig())
    with thread_server(app) as base:
        page, outside, errors = offline_page(browser, base)
        page.goto(base + "/docs")
        page.wait_for_selector(".swagger-ui .opblock", timeout=20000)
        text = page.inner_text(".swagger-ui")
        assert "/v1/embeddings" in text and "/v1/rerank" in text and "/v1/context" in text
        page.goto(base + "/redoc")
        page.wait_for_selector("redoc [role=navigation], .menu-content", timeout=20000)
        assert "Embed texts" in page.inner_text("body")
        assert not outside, outside
        page.close()
