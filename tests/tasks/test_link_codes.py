"""Code sets and the name-index linker: formats read alike, bad files refused by line, an exact synonym
links to its concept at rank 1, and a changed code set updates the linker without re-encoding the rest."""

from __future__ import annotations

import json

import pytest

from conftest import write
from encoderkit.data.corpora.codesets import read_codes
from encoderkit.errors import EncoderkitError
from encoderkit.tasks.link.linker import Linker

MEDIC = """D006527|277900||Hepatolenticular Degeneration|Wilson Disease|Wilson&apos;s disease
D008107||Liver Diseases|Hepatic Disease|Liver Dysfunction
D001943||Breast Neoplasms|Breast Cancer|Mammary Carcinoma
D010051||Ovarian Neoplasms|Ovarian Cancer|Cancer of Ovary
D003920||Diabetes Mellitus|Diabetes
"""


def test_the_formats_read_alike(tmp_path):
    medic = read_codes(write(tmp_path / "medic.txt", MEDIC))
    rows = [{"id": c.id, "name": c.name, "synonyms": "|".join(c.synonyms), "alt_ids": "|".join(c.alt_ids)} for c in medic]
    csv_text = "id,name,synonyms,alt_ids\n" + "".join(f'{r["id"]},"{r["name"]}","{r["synonyms"]}",{r["alt_ids"]}\n' for r in rows)
    tsv_text = "id\tname\tsynonyms\talt_ids\n" + "".join(
        f"{r['id']}\t{r['name']}\t{r['synonyms']}\t{r['alt_ids']}\n" for r in rows
    )
    jsonl = "".join(json.dumps({**r, "synonyms": r["synonyms"].split("|")}) + "\n" for r in rows)
    for name, text in (("c.csv", csv_text), ("c.tsv", tsv_text), ("c.jsonl", jsonl)):
        other = read_codes(write(tmp_path / name, text))
        assert [(c.id, c.name, c.synonyms, c.alt_ids) for c in other] == [(c.id, c.name, c.synonyms, c.alt_ids) for c in medic]
    assert medic.concept_of("OMIM:277900").id == "D006527" and "Wilson's disease" in medic["D006527"].names()


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("dup.txt", "D1||One\nD2||Two\nD1||Again\n", "dup.txt:3: id D1 is already defined on line 1"),
        ("empty.jsonl", '{"id": "A", "name": ""}\n', "empty.jsonl:1: concept A has an empty name"),
        ("parent.csv", "id,name,parents\nA,Alpha,\nB,Beta,Z\n", "parent.csv:3: concept B names parent Z"),
        ("bad.jsonl", '{"id": "A", "name": "x"}\n{oops\n', "bad.jsonl:2: invalid JSON"),
        ("nohead.csv", "code,label\nA,x\n", "needs id, name"),
    ],
)
def test_bad_code_files_are_refused_with_the_line(tmp_path, name, text, message):
    with pytest.raises(EncoderkitError) as err:
        read_codes(write(tmp_path / name, text))
    assert message in str(err.value)


def test_link_an_exact_synonym_and_update_incrementally(tmp_path, tiny_model_dir):
    codes = read_codes(write(tmp_path / "medic.txt", MEDIC))
    with Linker.build(codes, tmp_path / "linker", model=str(tiny_model_dir), export_onnx=False) as linker:
        assert linker.meta["names"] == codes.n_names() == 14
        (cands,) = linker.link(["Mammary Carcinoma"], k=3)
        assert cands[0].id == "D001943" and cands[0].name == "Mammary Carcinoma" and "bm25" in cands[0].stages
        (cands,) = linker.link(["hepatic disease"], k=3, mode="bm25")
        assert cands[0].id == "D008107"
    changed = read_codes(write(tmp_path / "medic2.txt", MEDIC.replace("|Diabetes\n", "|Sugar Disease\n")))
    with Linker.build(changed, tmp_path / "linker", export_onnx=False) as linker:
        assert linker.meta["last_build"] == {**linker.meta["last_build"], "added": 1, "removed": 1}
        (cands,) = linker.link(["sugar disease"], k=1, mode="bm25")
        assert cands[0].id == "D003920"
    with Linker.open(tmp_path / "linker") as linker:
        assert linker.meta["codes"]["concepts"] == 5
    with pytest.raises(EncoderkitError, match="not a linker"):
        Linker.open(tmp_path)


def test_the_link_command_builds_links_and_refuses_bad_calls(tmp_path, tiny_model_dir, capsys):
    from conftest import run_cli

    codes = write(tmp_path / "medic.txt", MEDIC)
    out = tmp_path / "linker"
    code, stdout, err = run_cli(
        capsys, "link", "build", "--codes", codes, "--out", out, "--model", tiny_model_dir, "--json", "-q"
    )
    assert code == 0 and json.loads(stdout)["names"] == 14, err
    code, stdout, err = run_cli(capsys, "link", out, "breast and ovarian cancer", "--mode", "bm25", "--json")
    parts = json.loads(stdout)["parts"]
    assert code == 0 and [p["text"] for p in parts] == ["breast cancer", "ovarian cancer"], err
    assert [p["candidates"][0]["id"] for p in parts] == ["D001943", "D010051"]
    code, stdout, _ = run_cli(capsys, "link", out, "WD", "--context", "Wilson disease (WD) is rare.", "--mode", "bm25", "--json")
    assert json.loads(stdout)["parts"][0]["candidates"][0]["id"] == "D006527"  # the abbreviation expanded from its text
    mentions = write(tmp_path / "m.jsonl", '{"mention": "mammary carcinoma"}\n{"mention": "diabetes"}\n')
    code, stdout, _ = run_cli(capsys, "link", out, "--file", mentions, "--mode", "bm25", "--json")
    assert [r["parts"][0]["candidates"][0]["id"] for r in json.loads(stdout)] == ["D001943", "D003920"]
    code, _, err = run_cli(capsys, "link", "build", "--codes", codes)
    assert code == 2 and "needs --codes CODES and --out DIR" in err
    code, _, err = run_cli(capsys, "link", tmp_path, "x")
    assert code == 2 and "not a linker" in err


def test_validation_rejects_wrong_types_and_subtrees_and_nil_when_nothing_passes(tmp_path, tiny_model_dir, capsys):
    from conftest import run_cli

    codes = write(
        tmp_path / "codes.csv",
        "id,name,synonyms,parents,type\nC0,Cancer,Neoplasm,,Disease\nC1,Breast Cancer,Mammary Carcinoma,C0,Disease\n"
        "C2,Ovarian Cancer,,C0,Disease\nG1,BRCA1,Breast Cancer Gene,,Gene\nD9,Diabetes,,,Disease\n",
    )
    out = tmp_path / "linker"
    assert run_cli(capsys, "link", "build", "--codes", codes, "--out", out, "--model", tiny_model_dir, "-q")[0] == 0
    code, stdout, err = run_cli(capsys, "link", out, "breast cancer gene", "--mode", "bm25", "--type", "Disease", "--json")
    (part,) = json.loads(stdout)["parts"]
    assert code == 0, err
    gene = next(c for c in part["candidates"] if c["id"] == "G1")
    assert not gene["valid"] and "type 'Gene'" in gene["problem"] and part["id"] == "C1"
    code, stdout, _ = run_cli(capsys, "link", out, "diabetes", "--mode", "bm25", "--under", "C0", "--json")
    (part,) = json.loads(stdout)["parts"]
    assert part["nil"] and part["id"] is None and part["candidates"][0]["problem"] == "not under C0"
    code, stdout, _ = run_cli(capsys, "link", out, "ovarian cancer", "--mode", "bm25", "--under", "C0", "--json")
    assert json.loads(stdout)["parts"][0]["id"] == "C2"
    code, stdout, _ = run_cli(capsys, "link", out, "ovarian cancer", "--mode", "bm25", "--min-score", "1e9", "--json")
    assert json.loads(stdout)["parts"][0]["nil"]
    medic = write(tmp_path / "medic.txt", MEDIC)
    assert run_cli(capsys, "link", "build", "--codes", medic, "--out", tmp_path / "m", "--model", tiny_model_dir, "-q")[0] == 0
    code, _, err = run_cli(capsys, "link", tmp_path / "m", "diabetes", "--type", "Disease")
    assert code == 2 and "no types or parents" in err
