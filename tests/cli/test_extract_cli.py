"""`encoderkit train ner|relations`, `extract entities|relations`, `eval ner|relations` on tiny models and data."""

from __future__ import annotations

import json

import pytest

from conftest import make_tiny_model, run_cli, write

CONLL = """-DOCSTART- -X- -X- O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
visited VBD I-VP O
Brussels NNP I-NP I-LOC
. . O O
"""

SEMEVAL = (
    '1\t"The <e1>company</e1> fabricates plastic <e2>chairs</e2>."\nProduct-Producer(e2,e1)\nComment:\n\n'
    '2\t"The <e1>child</e1> was wrapped into the <e2>cradle</e2>."\nOther\nComment:\n\n'
    '3\t"Smoke <e1>damage</e1> was caused by the <e2>fire</e2>."\nCause-Effect(e2,e1)\nComment:\n\n'
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("xcli")
    tiny = make_tiny_model(d / "tiny")
    conll = d / "conll"
    for name in ("eng.train", "eng.testa", "eng.testb"):
        write(conll / name, CONLL * 3)
    sem = d / "sem"
    write(sem / "TRAIN_FILE.TXT", SEMEVAL * 4)
    write(sem / "TEST_FILE_FULL.TXT", SEMEVAL.replace("1\t", "8001\t").replace("2\t", "8002\t").replace("3\t", "8003\t"))
    return d, tiny, conll, sem


def test_ner_train_extract_eval(setup, capsys):
    d, tiny, conll, _ = setup
    code, out, err = run_cli(
        capsys,
        "train",
        "ner",
        "--data",
        conll,
        "--out",
        d / "ner",
        "--model",
        tiny,
        "--max-steps",
        "3",
        "--batch-size",
        "2",
        "--max-length",
        "32",
        "--stride",
        "4",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["total_steps"] == 3
    code, out, err = run_cli(capsys, "extract", "entities", "Peter  Blackburn visited\nBrussels.", "--model", d / "ner", "--json")
    assert code == 0, err
    rec = json.loads(out)
    text = "Peter  Blackburn visited\nBrussels."
    assert all(text[e["start"] : e["end"]] == e["text"] for e in rec["entities"])
    f = write(d / "long.txt", "Peter Blackburn visited Brussels. " * 3000)
    code, out, err = run_cli(
        capsys, "extract", "entities", "--file", f, "--model", d / "ner", "--json", "--min-confidence", "0.5"
    )
    assert code == 0, err
    assert all(e["confidence"] >= 0.5 for e in json.loads(out)["entities"])
    code, out, err = run_cli(capsys, "eval", "ner", conll, "--model", d / "ner", "--out", d / "evner", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert {"precision", "recall", "f1", "words_per_s", "per_type"} <= set(res)
    assert (d / "evner" / "confusion.png").stat().st_size > 1000 and (d / "evner" / "predictions.conll").is_file()


def test_relations_train_extract_eval(setup, capsys):
    d, tiny, _, sem = setup
    code, out, err = run_cli(
        capsys, "train", "relations", "--data", sem, "--out", d / "re", "--model", tiny, "--max-steps", "2", "--json"
    )
    assert code == 0, err
    code, out, err = run_cli(
        capsys, "extract", "relations", "The <e1>company</e1> makes <e2>chairs</e2>.", "--model", d / "re", "--json"
    )
    assert code == 0, err
    for r in json.loads(out)["relations"]:  # an untrained model may well say Other
        assert {r["head"]["text"], r["tail"]["text"]} == {"company", "chairs"} and r["evidence"][
            "text"
        ] == "The company makes chairs."
    code, out, err = run_cli(capsys, "eval", "relations", sem, "--model", d / "re", "--out", d / "evre", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert "macro_f1" in res and res["examples"] == 3
    lines = (d / "evre" / "predictions.txt").read_text().splitlines()
    assert [x.split("\t")[0] for x in lines] == ["8001", "8002", "8003"]
    assert all(x.split("\t")[1] == "Other" or x.split("\t")[1].endswith(("(e1,e2)", "(e2,e1)")) for x in lines)


def test_pipeline_and_user_errors(setup, capsys):
    d, tiny, conll, sem = setup
    if not (d / "ner").is_dir() or not (d / "re").is_dir():
        pytest.skip("needs the models of the tests above")
    code, out, err = run_cli(
        capsys, "extract", "relations", "Peter Blackburn met Jim in Brussels.", "--model", d / "re", "--ner", d / "ner", "--json"
    )
    assert code == 0, err
    assert "relations" in json.loads(out)
    code, _, err = run_cli(capsys, "extract", "relations", "no markers here", "--model", d / "re")
    assert code == 2 and "--ner" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "extract", "entities", "x", "--model", d / "re")
    assert code == 2 and "no entity tagger" in err
    code, _, err = run_cli(capsys, "extract", "entities", "x", "--model", tiny)
    assert code == 2 and "not an extraction model" in err
    bad = write(d / "bad.conll", "EU I-ORG\nrejects\n")
    code, _, err = run_cli(capsys, "train", "ner", "--data", bad, "--out", d / "x", "--model", tiny)
    assert code == 2 and "bad.conll:2" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "eval", "relations", d / "nowhere", "--model", d / "re", "--out", d / "y")
    assert code == 2 and "does not exist" in err


def test_interrupted_training_is_one_line_and_its_folder_is_refused(setup, capsys, monkeypatch):
    """Ctrl-C in `train ner` printed a 17-frame traceback and exited 1, and the half-trained folder then
    loaded without a word. Now: one line naming the step and --resume, exit 130; loading the folder is
    refused until the run finishes (or ENCODERKIT_ALLOW_UNFINISHED=1); --resume finishes it."""
    from encoderkit.errors import EncoderkitError
    from encoderkit.models.heads.tagger import Tagger
    from encoderkit.training.loop import Trainer

    d, tiny, conll, _ = setup
    out = d / "ner-interrupted"
    args = ("train", "ner", "--data", conll, "--out", out, "--model", tiny, "--max-steps", "6", "--batch-size", "2",
            "--max-length", "32", "--stride", "4", "--eval-every", "2", "-q")  # fmt: skip
    run = Trainer.run

    def stopped_after_three(self, *a, **k):  # Ctrl-C during step 3 (what the loop's SIGINT handler does)
        self.on_step = lambda trainer, done: trainer.request_stop() if done == 3 else None
        return run(self, *a, **k)

    monkeypatch.setattr(Trainer, "run", stopped_after_three)
    code, _, err = run_cli(capsys, *args)
    assert code == 130 and "Traceback" not in err and err.count("\n") == 1, err
    assert "interrupted at step 3" in err and "--resume" in err
    monkeypatch.undo()
    with pytest.raises(EncoderkitError, match="training did not finish .*step 3 of 6"):
        Tagger.load(out)
    code, _, err = run_cli(capsys, "extract", "entities", "Peter visited Brussels.", "--model", out)
    assert code == 2 and "did not finish" in err and "--resume" in err
    monkeypatch.setenv("ENCODERKIT_ALLOW_UNFINISHED", "1")
    assert Tagger.load(out).labels
    monkeypatch.delenv("ENCODERKIT_ALLOW_UNFINISHED")
    code, _, err = run_cli(capsys, *args, "--resume")
    assert code == 0, err
    assert Tagger.load(out).extract(["Peter visited Brussels."])  # finished: loads, runs
