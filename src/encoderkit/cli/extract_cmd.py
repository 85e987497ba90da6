"""``encoderkit extract entities|relations`` and ``encoderkit extract --schema S --model M FILES...``;
``encoderkit eval ner|relations|extract``.

``extract`` is a group whose subcommands are ``entities``, ``relations`` and ``schema``; a command line
that starts with anything else (``--schema ...``, a file) goes to ``schema``, so both spellings work.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from typer.core import TyperGroup

from .common import console, print_json, print_markdown, quiet_env
from .eval_cmd import eval_app
from .options import batch_size_option, json_option, out_option, quiet_option


class _DefaultToSchema(TyperGroup):
    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["schema", *args]
        return super().parse_args(ctx, args)


extract_app = typer.Typer(
    cls=_DefaultToSchema,
    help="Extract entities, relations and schema frames with trained encoder models.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(extract_app, name="extract")


def _read_texts(text: Optional[str], files: List[Path]) -> list[tuple[str, str]]:
    """(id, text) documents from an argument or files (.jsonl: one {"text"[, "id"]} per line)."""
    from ..errors import DataError, EncoderkitError

    docs = []
    if text is not None:
        docs.append(("text", sys.stdin.read() if text == "-" else text))
    for f in files:
        if not f.is_file():
            raise EncoderkitError(f"'{f}' is not a file")
        if f.suffix == ".jsonl":
            for n, line in enumerate(f.read_text(encoding="utf-8").split("\n"), start=1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f, f"invalid JSON ({exc.msg})", line=n) from None
                if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
                    raise DataError(f, "expected an object with a 'text' string", line=n)
                docs.append((str(rec.get("id", f"{f}:{n}")), rec["text"]))
        else:
            try:
                docs.append((str(f), f.read_text(encoding="utf-8")))
            except UnicodeDecodeError:
                raise DataError(f, "is not UTF-8 text", hint="convert it to UTF-8 (offsets refer to the decoded text)") from None
    if not docs:
        raise EncoderkitError("no text given", hint="pass TEXT, --file F (or FILES), or '-' for stdin")
    return docs


def _entity_table(title: str, ents: list[dict]):
    from rich.table import Table

    t = Table(title=title)
    for c in ("type", "text", "start", "end", "confidence"):
        t.add_column(c)
    for e in ents:
        t.add_row(e["type"], e["text"], str(e["start"]), str(e["end"]), f"{e['confidence']:.3f}")
    return t


@extract_app.command("entities")
def entities(
    text: Optional[str] = typer.Argument(None, help="Text to tag ('-': read stdin)."),
    file: List[Path] = typer.Option([], "--file", "-f", help="Text file(s) of any length; .jsonl: one {text} per line."),
    model: Path = typer.Option(..., "--model", "-m", help="Tagger folder (encoderkit train ner) or extraction model."),
    min_confidence: float = typer.Option(0.0, "--min-confidence", help="Leave out entities below this confidence."),
    backend: str = typer.Option("torch", help="torch | onnx | onnx-int8 (needs `encoderkit export onnx --model M`)."),
    batch_size: int = typer.Option(16, help="Windows per forward pass."),
    as_json: bool = json_option("One JSON object per document."),
    quiet: bool = quiet_option(),
):
    """Named entities with type, text, character offsets and confidence (documents of any length)."""
    quiet_env(quiet or as_json)
    from ..tasks.extract import Extractor

    ext = Extractor.load(model, backend=backend)
    if ext.tagger is None:
        from ..errors import EncoderkitError

        raise EncoderkitError(
            f"'{model}' has no entity tagger", hint="pass a model from `encoderkit train ner` or `train extract`"
        )
    docs = _read_texts(text, file)
    recs = ext.extract([t for _, t in docs], min_confidence=min_confidence, batch_size=batch_size)
    for (doc_id, _), rec in zip(docs, recs):
        if as_json:
            sys.stdout.write(json.dumps({"id": doc_id, "entities": rec["entities"]}, ensure_ascii=False) + "\n")
        else:
            console().print(_entity_table(f"{doc_id}: {len(rec['entities'])} entities", rec["entities"]))


def _marked_or_plain(doc_text: str) -> tuple[str, list[dict] | None]:
    """A SemEval-style text with <e1>..</e1> <e2>..</e2> becomes (clean text, the two spans)."""
    if "<e1>" not in doc_text:
        return doc_text, None
    from ..data.corpora.semeval import parse_marked
    from ..errors import EncoderkitError

    try:
        clean, e1, e2 = parse_marked(doc_text)
    except ValueError as exc:
        raise EncoderkitError(f"marked text: {exc}") from None
    return clean, [{"start": e1[0], "end": e1[1], "type": "e1"}, {"start": e2[0], "end": e2[1], "type": "e2"}]


@extract_app.command("relations")
def relations(
    text: Optional[str] = typer.Argument(None, help="Text; mark a given pair as <e1>..</e1> <e2>..</e2>, or use --ner."),
    file: List[Path] = typer.Option(
        [], "--file", "-f", help="Text file(s), or .jsonl of {text, entities: [{start, end, type}]}."
    ),
    model: Path = typer.Option(..., "--model", "-m", help="Relation model (encoderkit train relations) or extraction model."),
    ner: Optional[Path] = typer.Option(None, "--ner", help="Tagger whose entities are the candidate arguments (pipeline)."),
    min_confidence: float = typer.Option(
        0.0, "--min-confidence", min=0.0, max=1.0, help="Drop predictions below this confidence."
    ),
    max_sentence_gap: int = typer.Option(0, help="Pair entities up to N sentences apart (0: same sentence)."),
    backend: str = typer.Option("torch", help="torch | onnx | onnx-int8."),
    as_json: bool = json_option("One JSON object per document."),
    quiet: bool = quiet_option(),
):
    """Relations between given spans or the NER model's entities, with evidence sentence and confidence."""
    quiet_env(quiet or as_json)
    from ..data.corpora.annotations import read_text_spans
    from ..errors import EncoderkitError
    from ..tasks.extract import Extractor

    base = Extractor.load(model, backend=backend)
    if base.relations is None:
        raise EncoderkitError(f"'{model}' has no relation component", hint="pass a model from `encoderkit train relations`")
    tagger = base.tagger
    if ner is not None:
        tagger = Extractor.load(ner, backend=backend).tagger
    ext = Extractor(tagger=tagger, relations=base.relations, schema=base.schema, max_sentence_gap=max_sentence_gap)
    docs, given = [], []
    for doc_id, t in _read_texts(text, [f for f in file if f.suffix != ".jsonl"]):
        clean, spans = _marked_or_plain(t)
        docs.append((doc_id, clean))
        given.append(spans)
    for f in (f for f in file if f.suffix == ".jsonl"):
        for doc_id, t, ents in read_text_spans(f):
            docs.append((doc_id, t))
            given.append(ents)
    out = []
    for (doc_id, t), spans in zip(docs, given):
        if spans is None and tagger is None:
            raise EncoderkitError(f"{doc_id}: no entity spans", hint="mark the pair with <e1>..</e1> <e2>..</e2> or pass --ner")
        rec = ext.extract([t], min_confidence=min_confidence, entities=None if spans is None else [spans])[0]
        out.append((doc_id, rec))
    for doc_id, rec in out:
        _print_relations(doc_id, rec, as_json)


def _print_relations(doc_id: str, rec: dict, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps({"id": doc_id, "relations": rec["relations"]}, ensure_ascii=False) + "\n")
        return
    from rich.table import Table

    table = Table(title=f"{doc_id}: {len(rec['relations'])} relations")
    for c in ("type", "head", "tail", "confidence", "evidence"):
        table.add_column(c)
    for r in rec["relations"]:
        table.add_row(r["type"], r["head"]["text"], r["tail"]["text"], f"{r['confidence']:.3f}", r["evidence"]["text"][:80])
    console().print(table)


@extract_app.command("schema")
def schema_cmd(
    files: List[Path] = typer.Argument(..., help="Documents (any text file; .jsonl: one {id, text} per line)."),
    schema: Path = typer.Option(..., "--schema", "-s", help="The schema the model was trained for (YAML/JSON)."),
    model: Path = typer.Option(..., "--model", "-m", help="Extraction model folder (encoderkit train extract)."),
    min_confidence: float = typer.Option(0.0, "--min-confidence", help="Leave out values below this confidence."),
    backend: str = typer.Option("torch", help="torch | onnx | onnx-int8."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the JSON lines here instead of stdout."),
    quiet: bool = quiet_option(),
):
    """One JSON record per document, validated against the schema: entities, relations and frames, every
    value with its evidence (character offsets and sentence) and confidence."""
    quiet_env(quiet)
    from ..errors import EncoderkitError
    from ..tasks.extract import Extractor, Schema

    wanted = Schema.load(schema)
    ext = Extractor.load(model, backend=backend)
    if ext.schema is None:
        raise EncoderkitError(
            f"'{model}' is not a schema extraction model",
            hint="make one with `encoderkit train extract --schema S` (--ner/--relations reuse trained models)",
        )
    if ext.schema.to_dict() | {"name": None} != wanted.to_dict() | {"name": None}:
        raise EncoderkitError(
            f"'{model}' was trained for another schema than {schema}", hint="pass the schema it was trained with"
        )
    docs = _read_texts(None, files)
    recs = ext.extract([t for _, t in docs], min_confidence=min_confidence)
    sink = open(out, "w", encoding="utf-8") if out else sys.stdout
    try:
        for (doc_id, _), rec in zip(docs, recs):
            sink.write(json.dumps({"id": doc_id, **rec}, ensure_ascii=False) + "\n")
    finally:
        if out:
            sink.close()
    if out and not quiet:
        console(stderr=True).print(f"wrote {len(recs)} records to {out}")


# ---------------------------------------------------------------------------- eval ner|relations|extract
@eval_app.command("ner")
def eval_ner(
    data: Path = typer.Argument(..., help="CoNLL folder (eng.testb / test.*) or file, or span .jsonl."),
    model: Path = typer.Option(..., "--model", "-m", help="Tagger folder."),
    out: Path = out_option("Output folder: results.json, results.md, confusion.png."),
    split: str = typer.Option("test", help="Split when DATA is a folder: train | dev | test."),
    backend: str = typer.Option("torch", help="torch | onnx | onnx-int8."),
    batch_size: int = batch_size_option(16, "Examples per batch."),
    as_json: bool = json_option(),
    quiet: bool = quiet_option(),
):
    """Entity-level precision/recall/F1 (seqeval strict = conlleval), per type, confusion matrix, throughput."""
    quiet_env(quiet or as_json)
    from ..tasks.extract.evaluate import evaluate_ner

    res = evaluate_ner(data, model, out, split=split, backend=backend, batch_size=batch_size)
    _show(res, out, as_json)


@eval_app.command("relations")
def eval_relations(
    data: Path = typer.Argument(..., help="SemEval-2010 Task 8 folder (TEST_FILE_FULL.TXT) or file, or head/tail .jsonl."),
    model: Path = typer.Option(..., "--model", "-m", help="Relation model folder."),
    out: Path = out_option("Output folder: results.json, predictions.txt, confusion.png."),
    split: str = typer.Option("test", help="Split when DATA is a folder."),
    backend: str = typer.Option("torch", help="torch | onnx | onnx-int8."),
    as_json: bool = json_option(),
    quiet: bool = quiet_option(),
):
    """Official SemEval-2010 Task 8 macro-F1, predictions.txt in the official format, confusion matrix."""
    quiet_env(quiet or as_json)
    from ..tasks.extract.evaluate import evaluate_relations

    res = evaluate_relations(data, model, out, split=split, backend=backend)
    _show(res, out, as_json)


@eval_app.command("extract")
def eval_extract(
    data: Path = typer.Argument(..., help="Annotated JSONL (the train extract format)."),
    model: Path = typer.Option(..., "--model", "-m", help="Extraction model folder."),
    out: Path = out_option("Output folder: results.json, results.md, confusion.png."),
    backend: str = typer.Option("torch", help="torch | onnx | onnx-int8."),
    as_json: bool = json_option(),
    quiet: bool = quiet_option(),
):
    """Entity, relation and frame P/R/F1 and frame field accuracy on annotated documents."""
    quiet_env(quiet or as_json)
    from ..tasks.extract.evaluate import evaluate_extract_file

    res = evaluate_extract_file(data, model, out, backend=backend)
    _show(res, out, as_json)


def _show(res: dict, out: Path, as_json: bool) -> None:
    if as_json:
        print_json(res)
        return
    print_markdown((out / "results.md").read_text())
    console().print(f"wrote {out}/results.json, results.md, confusion.png")
