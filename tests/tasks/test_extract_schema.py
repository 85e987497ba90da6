"""Schemas, annotations against a schema, train extract and schema extraction on a tiny backbone."""

from __future__ import annotations

import json

import pytest

from conftest import make_tiny_model, run_cli, write
from encoderkit.data.corpora.annotations import read_annotations
from encoderkit.errors import DataError
from encoderkit.tasks.extract import Extractor, Schema
from encoderkit.tasks.extract.resolve import attribute_items, link_items, relation_items, resolve, tagged_doc

SCHEMA_YAML = """\
version: 1
name: jobs
entities:
  PER: a person
  ORG:
    description: a company or institution
relations:
  works_for:
    description: the person works for the organisation
    head: [PER]
    tail: [ORG]
frames:
  job:
    description: a position someone holds
    anchor: person
    fields:
      person: {type: entity, entity_types: [PER]}
      employer: {type: entity, entity_types: [ORG]}
      status:
        type: enum
        values: {current: holds it now, former: held it before}
      title: {type: span, description: the job title}
"""


def _docs() -> list[dict]:
    people = ["Ana Ruiz", "Li Wei", "John Smith", "Marie Curie", "Omar Haddad"]
    orgs = ["Acme Corp", "Globex", "Initech", "Umbrella Labs", "Stark Industries"]
    out = []
    for k in range(20):
        p, o = people[k % 5], orgs[(k * 2) % 5]
        former = k % 2 == 1
        text = f"{p} {'used to work' if former else 'works'} at {o} as chief engineer. The weather was fine in town."
        out.append(
            {
                "id": f"d{k}",
                "text": text,
                "entities": [{"id": "p", "type": "PER", "text": p}, {"id": "o", "type": "ORG", "text": o}],
                "relations": [{"type": "works_for", "head": "p", "tail": "o"}],
                "frames": [
                    {
                        "type": "job",
                        "fields": {
                            "person": "p",
                            "employer": "o",
                            "status": "former" if former else "current",
                            "title": {"text": "chief engineer"},
                        },
                    }
                ],
            }
        )
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("schema")
    schema = write(d / "jobs.yaml", SCHEMA_YAML)
    data = write(d / "ann.jsonl", "".join(json.dumps(x) + "\n" for x in _docs()))
    return d, schema, data


def test_schema_derives_what_models_learn(files):
    _, schema_path, _ = files
    s = Schema.load(schema_path)
    assert s.tagger_types() == ["ORG", "PER", "job.title"]
    assert s.link_labels() == ["works_for", "job.employer", "job.title"]
    assert s.attribute_heads() == {"job.__present__": ["no", "yes"], "job.status": ["current", "former"]}
    js = s.output_json_schema()
    assert js["properties"]["frames"]["items"]["oneOf"][0]["properties"]["fields"]["required"] == ["person"]


@pytest.mark.parametrize(
    "text, line, msg",
    [
        (SCHEMA_YAML.replace("head: [PER]", "head: [PERSON]"), 10, "PERSON"),
        (SCHEMA_YAML.replace("type: enum", "type: choice"), 20, "choice"),
        (SCHEMA_YAML.replace("    anchor: person", "    anchor: nobody"), 15, "nobody"),
        (SCHEMA_YAML.replace("version: 1", "version: 1\ncolour: red"), 2, "unknown key"),
        (SCHEMA_YAML.replace("values: {current: holds it now, former: held it before}", "values: [only]"), 21, "two values"),
        ("entities: [PER\n", 2, "invalid YAML"),
        (SCHEMA_YAML.replace("  ORG:\n", "  PER: again\n  ORG:\n"), 5, "duplicate"),
    ],
)
def test_malformed_schemas_rejected_with_file_line(tmp_path, text, line, msg):
    f = write(tmp_path / "bad.yaml", text)
    with pytest.raises(DataError, match=rf"bad.yaml:{line}: .*{msg}"):
        Schema.load(f)


def test_json_and_json_schema_forms(tmp_path):
    s = Schema.load(write(tmp_path / "s.yaml", SCHEMA_YAML))
    as_json = write(tmp_path / "s.json", json.dumps(s.to_dict(), indent=1))
    assert Schema.load(as_json).to_dict() | {"name": None} == s.to_dict() | {"name": None}
    bad_json = write(tmp_path / "b.json", '{\n "entities": {"PER": "x",}\n}')
    with pytest.raises(DataError, match=r"b.json:2"):
        Schema.load(bad_json)
    js = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "clinical",
        "properties": {
            "condition": {
                "type": "array",
                "items": {
                    "type": "object",
                    "x-anchor": "name",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "x-entity": "CONDITION", "description": "a disease"},
                        "status": {"type": "string", "enum": ["active", "resolved", "historical"]},
                        "source": {"type": "string", "enum": ["reported", "assessed"]},
                        "onset": {"type": "string", "description": "when it started"},
                    },
                },
            }
        },
    }
    c = Schema.load(write(tmp_path / "c.json", json.dumps(js, indent=1)))
    assert list(c.entities) == ["CONDITION"] and c.frames["condition"].anchor == "name"
    assert c.attribute_heads()["condition.status"] == ["active", "resolved", "historical"] and c.span_types() == [
        "condition.onset"
    ]


def test_annotations_checked_against_schema(files, tmp_path):
    _, schema_path, data = files
    s = Schema.load(schema_path)
    docs = resolve(read_annotations(data), s)
    assert len(docs) == 20 and docs[0].frames[0].links["employer"].type == "ORG"
    td = tagged_doc(docs[0])
    assert {t for t in td.tags if t != "O"} >= {"B-PER", "B-ORG", "B-job.title"}
    rel = relation_items(docs, s)
    assert {i.labels["relation"] for i in rel} == {"works_for(e1,e2)"}
    links = link_items(docs, s)
    assert {i.labels["link"] for i in links} >= {"job.employer(e1,e2)", "job.title(e1,e2)"}
    attrs = attribute_items(docs, s)
    assert {i.labels["job.status"] for i in attrs} == {"current", "former"}
    for bad, msg in [
        (
            {
                **_docs()[0],
                "entities": [{"id": "p", "type": "CITY", "text": "Ana Ruiz"}, {"id": "o", "type": "ORG", "text": "Acme Corp"}],
            },
            "CITY",
        ),
        ({**_docs()[0], "frames": [{"type": "job", "fields": {"person": "p", "status": "retired"}}]}, "retired"),
        ({**_docs()[0], "frames": [{"type": "job", "fields": {"status": "current"}}]}, "anchor"),
        ({**_docs()[0], "relations": [{"type": "works_for", "head": "o", "tail": "p"}]}, "head is a ORG"),
    ]:
        f = write(tmp_path / "bad.jsonl", json.dumps(_docs()[1]) + "\n" + json.dumps(bad) + "\n")
        with pytest.raises(DataError, match=rf"bad.jsonl:2: .*{msg}"):
            resolve(read_annotations(f), s)


@pytest.fixture(scope="module")
def trained(files):
    from encoderkit.tasks.extract.train import train_extract
    from encoderkit.training.loop import TrainConfig

    d, schema_path, data = files
    tiny = make_tiny_model(d / "tiny")
    cfg = TrainConfig(max_steps=4, batch_size=8, lr=1e-3)
    card = train_extract(
        schema_path, data, d / "model", model=str(tiny), val_fraction=0.2, tagger_config=cfg, pair_config=cfg, show_progress=False
    )
    return d, schema_path, data, card


def test_train_extract_builds_every_component(trained):
    d, _, _, card = trained
    assert card["components"] == {"ner": "ner", "relations": "relations", "links": "links", "attributes": "attributes"}
    assert set(card["metrics"]["dev"]) == {"entities", "relations", "frames"}
    ext = Extractor.load(d / "model")
    info = ext.describe()
    assert info["kind"] == "extraction" and info["provides"] == {"entities": True, "relations": True, "frames": True}


def test_schema_extraction_records_are_valid(trained):
    d, _, _, _ = trained
    ext = Extractor.load(d / "model")
    texts = [x["text"] for x in _docs()[:3]] + ["", "Nothing to see.\n\nAt all."]
    recs = ext.extract(texts)
    assert len(recs) == len(texts)
    for text, rec in zip(texts, recs):  # each record passed the schema's JSON Schema inside extract()
        for e in rec["entities"]:
            assert text[e["start"] : e["end"]] == e["text"]
            assert text[e["sentence"]["start"] : e["sentence"]["end"]] == e["sentence"]["text"]
        for fr in rec["frames"]:
            for v in fr["fields"].values():
                ev = v.get("evidence", v)
                assert text[ev["start"] : ev["end"]] == ev["text"]
    strict = ext.extract(texts, min_confidence=0.99)
    assert all(e["confidence"] >= 0.99 for r in strict for e in r["entities"])


def test_reusing_components_and_mismatch(trained, tmp_path):
    from encoderkit.errors import EncoderkitError
    from encoderkit.tasks.extract.train import train_extract

    d, _, _, _ = trained
    ents_only = write(tmp_path / "e.yaml", "entities: {PER: a person, ORG: a company}\n")
    card = train_extract(ents_only, None, tmp_path / "reuse", ner=d / "model" / "ner")
    assert card["components"] == {"ner": "ner"} and card["reused"]["ner"]
    wrong = write(tmp_path / "w.yaml", "entities: {CITY: a city}\n")
    with pytest.raises(EncoderkitError, match="does not predict CITY"):
        train_extract(wrong, None, tmp_path / "reuse2", ner=d / "model" / "ner")


def test_cli_extract_schema_both_spellings_and_eval(trained, capsys, tmp_path):
    d, schema_path, data, _ = trained
    doc = write(tmp_path / "doc.txt", "Li Wei works at Globex as chief engineer.\nAna  Ruiz used to work at Initech.")
    code, out, err = run_cli(capsys, "extract", "--schema", schema_path, "--model", d / "model", doc, "--min-confidence", "0.0")
    assert code == 0, err
    rec = json.loads(out.splitlines()[0])
    assert rec["id"] == str(doc) and {"entities", "relations", "frames"} <= set(rec)
    code2, out2, _ = run_cli(capsys, "extract", "schema", doc, "--schema", schema_path, "--model", d / "model")
    assert code2 == 0 and out2 == out
    other = write(tmp_path / "o.yaml", "entities: {PER: a person}\n")
    code, _, err = run_cli(capsys, "extract", "--schema", other, "--model", d / "model", doc)
    assert code == 2 and "another schema" in err and "Traceback" not in err
    code, out, err = run_cli(capsys, "eval", "extract", data, "--model", d / "model", "--out", tmp_path / "ev", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert {"entities", "relations", "frames"} <= set(res) and (tmp_path / "ev" / "results.md").is_file()
