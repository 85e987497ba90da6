"""``encoderkit link build --codes CODES --out DIR`` and ``encoderkit link DIR "mention"`` / ``--file``:
build a linker over a code set's names, and link mentions to its concepts."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import console, print_json, quiet_env
from .options import json_option, quiet_option
from .safe import shown


def register(app: typer.Typer) -> None:
    app.command("link")(link)


def link(
    target: str = typer.Argument(..., help="A linker folder to link with, or `build` to build one (with --codes and --out)."),
    mention: Optional[str] = typer.Argument(None, help="The mention to link (or --file)."),
    codes: Optional[Path] = typer.Option(
        None, "--codes", help="build: the code set (MEDIC ids||name|synonym, .csv, .tsv, .jsonl)."
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="build: the linker folder (updated in place when it exists)."),
    model: str = typer.Option("default", "--model", help="build: the name encoder."),
    file: Optional[Path] = typer.Option(
        None, "--file", help="Mentions to link: JSONL with mention (and context), or one per line."
    ),
    context: Optional[str] = typer.Option(
        None, "--context", help="The text the mention comes from (abbreviations in it are expanded)."
    ),
    k: int = typer.Option(5, "-k", min=1, help="Candidates per mention part."),
    types: Optional[List[str]] = typer.Option(None, "--type", help="Only concepts of this type pass validation (repeatable)."),
    under: Optional[str] = typer.Option(None, "--under", help="Only this concept and those below it pass validation."),
    min_score: Optional[float] = typer.Option(None, "--min-score", help="NIL when the best valid candidate scores below this."),
    mode: str = typer.Option(
        "hybrid", "--mode", help="hybrid | bm25 | dense: how names are searched (not yet chosen on dev data)."
    ),
    as_json: bool = json_option("Print the result as JSON."),
    quiet: bool = quiet_option(),
):
    """Link mentions to the concepts of a code set, or build the linker (`encoderkit link build ...`)."""
    from ..errors import EncoderkitError

    quiet_env(quiet)
    if target == "build":
        if codes is None or out is None or mention is not None:
            raise EncoderkitError(
                "link build needs --codes CODES and --out DIR", hint="encoderkit link build --codes medic.txt --out linker"
            )
        return _build(codes, out, model, as_json, quiet)
    if codes is not None or out is not None:
        raise EncoderkitError(
            "--codes and --out are for `encoderkit link build`", hint='link with: encoderkit link DIR "mention"'
        )
    if (mention is None) == (file is None):
        raise EncoderkitError("give one mention or --file", hint='encoderkit link DIR "breast cancer" --json')
    items = [(mention, context)] if mention is not None else _read_mentions(file)
    from ..tasks.link.linker import Linker

    with Linker.open(Path(target)) as linker:
        results = [
            linker.link_mentions([m], context=c, k=k, mode=mode, types=types, under=under, min_score=min_score)[0]
            for m, c in items
        ]
    if as_json:
        return print_json(results[0] if mention is not None else results)
    out_ = console()
    for r in results:
        for part in r["parts"]:
            head = r["mention"] if part["text"] == r["mention"] else f"{r['mention']} -> {part['text']}"
            out_.print(shown(f"{head}: {'NIL' if part['nil'] else part['id']}"))
            for i, c in enumerate(part["candidates"], start=1):
                why = f"  [rejected: {c['problem']}]" if c.get("problem") else ""
                out_.print(shown(f"  {i}. {c['id']}  {c['name']}  ({c['score']:.4f}){why}"))


def _build(codes: Path, out: Path, model: str, as_json: bool, quiet: bool) -> None:
    from ..data.corpora.codesets import read_codes
    from ..tasks.link.linker import Linker

    with Linker.build(read_codes(codes), out, model=model, show_progress=None if not quiet else False) as linker:
        meta = linker.meta
    if as_json:
        return print_json({"linker": str(out), **meta})
    b = meta["last_build"]
    console().print(
        shown(
            f"{out}: {meta['codes']['concepts']} concepts, {meta['names']} names; "
            f"{b['added']} added, {b['removed']} removed, {b['seconds']} s"
        )
    )


def _read_mentions(path: Path) -> list[tuple[str, Optional[str]]]:
    import json

    from ..errors import DataError

    if not path.is_file():
        raise DataError(path, "no such file (pass JSONL with mention, or one mention per line)")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        if path.suffix.lower() == ".jsonl":
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(path, f"line {n}: invalid JSON ({exc.msg})") from None
            if not isinstance(rec, dict) or not str(rec.get("mention") or "").strip():
                raise DataError(path, f'line {n}: needs a non-empty "mention"')
            out.append((str(rec["mention"]), rec.get("context")))
        else:
            out.append((line.strip(), None))
    return out
