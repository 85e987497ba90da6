"""Every client snippet of docs/serving.md's "Examples" section (curl lines, the OpenAI, Cohere v1/v2,
Jina and TEI calls in Python) runs, as written, against a live `encoderkit serve` on the bundled MiniLM:
a documented call that fails is a bug (a Cohere call naming "all-MiniLM-L6-v2" got 404 from /v1/rerank
while /v1/embeddings accepted the same name)."""

from __future__ import annotations

import re
import subprocess

import pytest

from conftest import REPO
from encoderkit import Index
from support.servers import cli_server

pytestmark = pytest.mark.integration


def _examples() -> tuple[list[str], list[str]]:
    text = (REPO / "docs" / "serving.md").read_text()
    section = text.split("## Examples", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.S)
    shell = [b for lang, b in blocks if lang == "bash"]
    commands = [c.strip() for c in re.sub(r"\\\n\s*", " ", "\n".join(shell)).splitlines() if c.strip().startswith("curl")]
    return commands, [b for lang, b in blocks if lang == "python"]


@pytest.fixture(scope="module")
def server(tmp_path_factory, minilm):
    tmp = tmp_path_factory.mktemp("snippets")
    index = Index.create(tmp / "ix", encoder=minilm)
    index.add(
        [
            {"id": "keys", "title": "Rotating keys", "text": "Rotate the API keys every 90 days and revoke old ones."},
            {"id": "vitd", "title": "Vitamin D", "text": "Vitamin D deficiency raises the risk of fractures."},
        ],
        export_onnx=False,
    )
    index.close()
    with cli_server("--index", str(tmp / "ix")) as (base, _):
        yield base


def test_every_documented_snippet_runs(server):
    commands, python = _examples()
    assert len(commands) >= 5 and python, "the Examples section lost its snippets"
    hostport = server.removeprefix("http://")
    for cmd in commands:
        cmd = cmd.replace("localhost:8000", hostport).replace("| jq -r .context", "")
        r = subprocess.run(["bash", "-c", cmd.replace("curl -s", "curl -s -f -S")], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, (cmd, r.stderr, r.stdout)
        assert r.stdout.strip().startswith(("{", "[")), (cmd, r.stdout[:200])
    for block in python:
        code = block.replace("http://127.0.0.1:8000", server)
        namespace: dict = {}
        exec(compile(code, "docs/serving.md", "exec"), namespace)  # a failing call raises: the snippet is broken
    assert len(namespace["vecs"]) == 2 and len(namespace["vecs"][0]) == 384
