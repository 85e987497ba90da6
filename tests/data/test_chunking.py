import pytest

from encoderkit.data.chunking import chunk_text, clip_title, index_text, split_sections


@pytest.fixture(scope="module")
def tok(tiny_encoder):
    return tiny_encoder.raw_tokenizer()


def _check_offsets(text, chunks):
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.text == c.text.strip() or c.text.strip()


def test_token_windows_with_overlap(tok):
    text = " ".join(f"word{i}" for i in range(300))
    n_tokens = len(tok.encode(text, add_special_tokens=False).ids)
    chunks = chunk_text(text, tok, size=64, overlap=16)
    _check_offsets(text, chunks)
    assert all(c.n_tokens <= 64 for c in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    # consecutive windows share exactly `overlap` tokens
    for a, b in zip(chunks, chunks[1:]):
        shared = tok.encode(text[b.start : a.end], add_special_tokens=False).ids
        assert 14 <= len(shared) <= 18  # tokenizing a substring can merge/split at the edges
    step = 64 - 16
    assert len(chunks) == -(-max(n_tokens - 64, 0) // step) + 1


def test_short_text_is_one_chunk_and_empty_is_none(tok):
    chunks = chunk_text("Just a few words.", tok, size=64, overlap=8)
    assert len(chunks) == 1 and chunks[0].text == "Just a few words."
    assert chunk_text("   \n  ", tok) == []


def test_bad_parameters(tok):
    with pytest.raises(ValueError):
        chunk_text("x", tok, size=10, overlap=10)


def test_markdown_splits_on_headings_and_respects_code_fences(tok):
    md = (
        "# Guide\nIntro text.\n\n## Install\n"
        + "pip install things. " * 30
        + "\n```bash\n# not a heading\nls\n```\n## Usage\nRun it.\n"
    )
    sections = split_sections(md, "markdown")
    assert [h for _, _, h in sections] == ["Guide", "Install", "Usage"]
    chunks = chunk_text(md, tok, size=64, overlap=8, fmt="markdown")
    _check_offsets(md, chunks)
    assert {c.section for c in chunks} == {"Guide", "Install", "Usage"}
    # a chunk never spans two sections when the second one did not fit
    assert any(c.text.startswith("## Usage") for c in chunks)


def test_small_sections_are_packed_together(tok):
    md = "# A\none\n# B\ntwo\n# C\nthree\n"
    chunks = chunk_text(md, tok, size=64, overlap=8, fmt="markdown")
    assert len(chunks) == 1 and chunks[0].text.startswith("# A") and chunks[0].text.endswith("three")


def test_setext_and_rst_headings():
    assert [h for *_, h in split_sections("Title\n=====\nbody\nSub\n---\nmore", "markdown")] == ["Title", "Sub"]
    rst = "=====\nTitle\n=====\n\nText.\n\nSection\n-------\n\nMore text.\n"
    spans = split_sections(rst, "rst")
    assert [h for *_, h in spans] == ["Title", "Section"]
    assert spans[0][0] == 0  # the overline belongs to the section
    assert split_sections("no headings", "text") == [(0, 11, "")]


def test_title_clip_and_header(tok):
    long_title = "very " * 100 + "long"
    clipped, n = clip_title(long_title, tok, max_tokens=10)
    assert n == 10 and len(tok.encode(clipped, add_special_tokens=False).ids) == 10
    assert index_text("My Title", "body text") == "My Title\nbody text"
    assert index_text("My Title", "My Title\nbody text") == "My Title\nbody text"
    assert index_text("", "body") == "body"
