"""Classifiers: probe, fine-tune (+ LoRA, exact resume), few-shot, multi-label thresholds, save/load,
ONNX agreement, zero-shot, evaluation, and the CLI, on tiny random models (MiniLM where it matters)."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import numpy as np
import pytest

from conftest import SHARED_DATA, make_tiny_model, run_cli, write
from encoderkit.errors import DataError
from encoderkit.tasks.classify import Classifier
from encoderkit.training.classify.train import ClassifyOptions, default_train_config, train_classify

POS = ["great", "wonderful", "superb", "lovely", "brilliant", "moving"]
NEG = ["awful", "terrible", "boring", "dull", "bad", "tedious"]


def synthetic(folder, n_train=96, n_eval=24, seed=0, multi=False):
    """Two (or, multi-label, three overlapping) classes decided by one word of a template."""
    rng = random.Random(seed)

    def rows(n):
        out = []
        for _ in range(n):
            pos = rng.random() < 0.5
            word = rng.choice(POS if pos else NEG)
            text = f"the film was {word} and the plot {rng.choice(['moved', 'dragged', 'went on'])}"
            if multi:
                labels = (["positive"] if pos else ["negative"]) + (["plot"] if "plot moved" in text else [])
                out.append({"text": text, "labels": labels})
            else:
                out.append({"text": text, "label": "pos" if pos else "neg"})
        return out

    for split, n in (("train", n_train), ("dev", n_eval), ("test", n_eval)):
        write(folder / f"{split}.jsonl", "".join(json.dumps(r) + "\n" for r in rows(n)))
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("m") / "tiny", seed=1)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return synthetic(tmp_path_factory.mktemp("d"))


@pytest.fixture(scope="module")
def probe_clf(tiny, data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "probe"
    train_classify(data, out, options=ClassifyOptions(method="probe", model=str(tiny), Cs=(0.1, 1.0, 10.0)))
    return out


def ft_config(**kw):
    return replace(default_train_config("finetune"), epochs=3, batch_size=16, lr=1e-3, head_lr=1e-2, patience=0, **kw)


def test_probe_saves_a_complete_classifier(probe_clf):
    clf = Classifier.load(probe_clf)
    assert clf.labels == ["neg", "pos"] and not clf.multi_label
    d = clf.describe()
    assert d["method"] == "probe" and d["kind"] == "classifier" and "test" in d["metrics"]
    preds = clf.predict(["the film was great and the plot moved", "the film was awful"], top_k=None)
    assert all(len(p) == 2 and p[0]["score"] >= p[1]["score"] for p in preds)
    assert abs(sum(x["score"] for x in preds[0]) - 1) < 1e-4
    assert clf.predict(["x"], top_k=1)[0][0].keys() == {"label", "score"}
    summary = json.loads((probe_clf / "train_summary.json").read_text())
    assert summary["probe"]["C"] in [float(c) for c in summary["probe"]["dev_scores_by_C"]]


def test_save_load_gives_identical_predictions(probe_clf, tmp_path):
    clf = Classifier.load(probe_clf)
    texts = ["the film was lovely and the plot went on", "the film was tedious", "unrelated words entirely"]
    clf.save(tmp_path / "copy")
    again = Classifier.load(tmp_path / "copy")
    np.testing.assert_array_equal(clf.logits(texts), again.logits(texts))
    assert clf.predict(texts) == again.predict(texts)
    assert again.fingerprint == clf.fingerprint


def test_finetune_loss_decreases_and_resume_is_exact(tiny, data, tmp_path, monkeypatch):
    opts = ClassifyOptions(method="finetune", model=str(tiny), dropout=0.0)
    full = train_classify(data, tmp_path / "full", options=opts, train_config=ft_config())
    curve = json.loads((tmp_path / "full" / "train_log.json").read_text())["loss_curve"]
    assert curve[-1]["loss"] < curve[0]["loss"]
    ft = full["finetune"]
    assert ft["parameters"]["trainable"] == ft["parameters"]["total"] and "test" in ft
    # interrupted after 7 steps (what Ctrl-C does), then resumed: the same final model
    from encoderkit.training import loop

    original = loop.Trainer.__init__

    def stopping(self, *a, **kw):
        original(self, *a, **kw)
        self.on_step = lambda tr, step: tr.request_stop() if step == 7 else None

    monkeypatch.setattr(loop.Trainer, "__init__", stopping)
    with pytest.raises(loop.TrainingInterrupted):
        train_classify(data, tmp_path / "resumed", options=opts, train_config=ft_config())
    monkeypatch.setattr(loop.Trainer, "__init__", original)
    train_classify(data, tmp_path / "resumed", options=opts, train_config=ft_config(), resume=True)
    texts = ["the film was superb and the plot dragged", "the film was dull"]
    np.testing.assert_allclose(
        Classifier.load(tmp_path / "full").logits(texts), Classifier.load(tmp_path / "resumed").logits(texts), atol=1e-5
    )


def test_early_stopping_on_dev(tiny, data, tmp_path):
    s = train_classify(
        data,
        tmp_path / "es",
        options=ClassifyOptions(method="finetune", model=str(tiny)),
        train_config=replace(ft_config(), epochs=30, patience=1, lr=0.0, head_lr=0.0),  # nothing can improve
    )
    assert s["finetune"]["stopped_early"] and s["finetune"]["epochs"] < 30


def test_lora_trains_adapters_and_exports_merged_weights(tiny, data, tmp_path):
    s = train_classify(
        data,
        tmp_path / "lora",
        options=ClassifyOptions(method="finetune", model=str(tiny), lora=4, init_head="random"),
        train_config=ft_config(),
    )
    p = s["finetune"]["parameters"]
    assert p["trainable"] < 0.5 * p["total"] and s["finetune"]["lora"]["r"] == 4
    clf = Classifier.load(tmp_path / "lora")  # a plain classifier: adapters merged into the weights
    assert not any("lora" in k for k in _weight_names(tmp_path / "lora"))
    assert clf.predict(["the film was great"], top_k=1)[0][0]["label"] in ("pos", "neg")


def _weight_names(folder):
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "np") as f:
        return list(f.keys())


def test_merged_lora_state_reproduces_the_adapted_model(tiny):
    import torch

    from encoderkit.models.backbone import Backbone
    from encoderkit.models.heads.torch_modules import merged_body_state
    from encoderkit.models.ref import resolve_model
    from encoderkit.training.classify.objectives import wrap_lora

    ref = resolve_model(str(tiny))
    bb = Backbone.load(ref)
    body, _ = wrap_lora(bb.torch_module, 4)
    with torch.no_grad():
        for n, p in body.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)  # B starts at zero: make the adapters do something
    body.eval()
    feats = {k: torch.from_numpy(v) for k, v in bb.features(["a test sentence"], 32).items()}
    with torch.no_grad():
        want = body(**feats).last_hidden_state
        plain = Backbone.load(ref).torch_module
        plain.load_state_dict(merged_body_state(body))
        got = plain.eval()(**feats).last_hidden_state
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_multi_label_thresholds(tiny, tmp_path):
    folder = synthetic(tmp_path / "ml", multi=True)
    train_classify(folder, tmp_path / "mlc", options=ClassifyOptions(method="probe", model=str(tiny)))
    clf = Classifier.load(tmp_path / "mlc")
    assert clf.multi_label and sorted(clf.labels) == ["negative", "plot", "positive"]
    th = clf.config["thresholds"]
    assert len(th) == 3 and all(0 < t < 1 for t in th)
    texts = ["the film was great and the plot moved", "the film was awful and the plot dragged"]
    probs = clf.probabilities(texts)
    for row, pred in zip(probs, clf.predict(texts)):
        assert {p["label"] for p in pred} == {lab for lab, p, t in zip(clf.labels, row, th) if p >= t}
    clf.config["thresholds"] = [1.1] * 3
    assert clf.predict(texts) == [[], []]


@pytest.mark.parametrize("multi", [False, True])
def test_onnx_export_agrees_with_torch(tiny, tmp_path, multi):
    from encoderkit.models.export import export_onnx

    folder = synthetic(tmp_path / "d", multi=multi)
    out = tmp_path / "clf"
    train_classify(folder, out, options=ClassifyOptions(method="probe", model=str(tiny)))
    texts = ["the film was great and the plot moved", "the film was boring", "ok"]
    torch_clf = Classifier.load(out)
    for quant, backend in ((None, "onnx"), ("int8", "onnx-int8")):
        info = json.loads((export_onnx(out, quantize=quant) / "export.json").read_text())
        assert info["kind"] == "classifier" and info["probe_texts"] >= 10
        onnx_clf = Classifier.load(out, backend=backend)
        if quant is None:
            # fp32 logits agree to 1e-3; a multi-label decision right at its threshold may still flip (seen with
            # the lowest supported numpy/scikit-learn: 27 of 28 probe texts)
            assert info["prediction_agreement"] >= (0.95 if multi else 1.0) and info["max_abs_logit_diff"] < 1e-3
            np.testing.assert_allclose(onnx_clf.logits(texts), torch_clf.logits(texts), atol=1e-3)
            assert onnx_clf.predict_labels(texts) == torch_clf.predict_labels(texts)
        else:
            assert info["prediction_agreement"] >= 0.9 and info["per_channel"]


def test_onnx_backend_needs_an_export(probe_clf, tmp_path):
    import torch

    from encoderkit.errors import EncoderkitError

    clf = Classifier.load(probe_clf)
    with torch.no_grad():
        clf.module.head.bias += 0.5  # other weights: another fingerprint, no export yet
    clf.save(tmp_path / "other")
    with pytest.raises(EncoderkitError, match="export onnx"):
        Classifier.load(tmp_path / "other", backend="onnx-int8")


def test_fewshot_reports_seeds_mean_and_std(tiny, data, tmp_path):
    s = train_classify(
        data,
        tmp_path / "few",
        options=ClassifyOptions(method="fewshot", model=str(tiny), shots=4, seeds=2, pair_iterations=2),
        train_config=replace(default_train_config("fewshot"), batch_size=8),
    )
    f = s["fewshot"]
    assert f["seeds"] == [0, 1] and f["accuracy"]["n"] == 2 and len(f["runs"]) == 2
    assert all(r["examples"] == 8 for r in f["runs"])
    assert Classifier.load(tmp_path / "few").describe()["method"] == "fewshot"


def test_fewshot_from_a_test_only_set_excludes_its_examples(tiny, tmp_path):
    folder = tmp_path / "only"
    rows = [{"text": f"the film was {w}", "label": "pos" if w in POS else "neg"} for w in POS + NEG] * 3
    write(folder / "test.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    s = train_classify(
        folder, tmp_path / "o", options=ClassifyOptions(method="fewshot", model=str(tiny), shots=2, seeds=1, pair_iterations=1)
    )
    assert s["fewshot"]["runs"][0]["eval_texts"] == len(rows) - 4
    with pytest.raises(Exception, match="no training split"):
        train_classify(folder, tmp_path / "p", options=ClassifyOptions(method="probe", model=str(tiny)))


def test_bad_training_data_is_a_clear_error(tiny, tmp_path):
    bad = tmp_path / "bad"
    write(bad / "train.csv", "text,label\na,x\nb,y\n")
    write(bad / "dev.csv", "text,label\nc,x\nd,unknown\n")
    with pytest.raises(DataError, match=r"dev.csv:3: label 'unknown'"):
        train_classify(bad, tmp_path / "o", options=ClassifyOptions(model=str(tiny)))
    one = write(tmp_path / "one.csv", "text,label\na,x\nb,x\nc,x\n")
    with pytest.raises(DataError, match="only one class"):
        train_classify(one, tmp_path / "o2", options=ClassifyOptions(model=str(tiny)))


def test_evaluation_report(probe_clf, data, tmp_path):
    from encoderkit.tasks.classify.evaluate import evaluate_classifier

    res = evaluate_classifier(Classifier.load(probe_clf), data, out=tmp_path / "ev")
    saved = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert saved["accuracy"] == res["accuracy"] and 0 <= res["accuracy"] <= 1
    assert {r["label"] for r in res["per_class"]} == {"neg", "pos"}
    assert sum(map(sum, res["confusion"]["matrix"])) == res["n"] == 24
    assert 0 <= res["calibration"]["ece"] <= 1 and res["throughput"]["texts_per_second"] > 0
    for f in ("results.md", "confusion.png", "reliability.png"):
        assert (tmp_path / "ev" / f).stat().st_size > 0


def test_cli_train_classify_eval(tiny, data, tmp_path, capsys):
    out = tmp_path / "cli"
    code, stdout, err = run_cli(
        capsys, "train", "classify", "--data", data, "--out", out, "--method", "finetune", "--model", tiny,
        "--epochs", "1", "--batch-size", "16", "--lr", "1e-3",
    )  # fmt: skip
    assert code == 0, err
    assert stdout.index("probe") < stdout.index("fine-tune")  # the probe is printed before the fine-tune starts
    code, stdout, err = run_cli(capsys, "classify", "the film was great", "--model", out, "--top-k", "1", "--json")
    assert code == 0, err
    got = json.loads(stdout)
    assert got[0]["text"] == "the film was great" and len(got[0]["predictions"]) == 1
    texts = write(tmp_path / "texts.txt", "the film was dull\nthe film was lovely\n")
    code, stdout, _ = run_cli(capsys, "classify", "--file", texts, "--model", out)
    assert code == 0 and len(stdout.strip().splitlines()) == 2
    code, stdout, err = run_cli(capsys, "eval", "classify", data, "--model", out, "--out", tmp_path / "ev", "--json")
    assert code == 0, err and "accuracy" in json.loads(stdout)
    assert "accuracy" in json.loads((tmp_path / "ev" / "results.json").read_text())


def test_cli_errors_are_one_line(tiny, tmp_path, capsys):
    bad = write(tmp_path / "bad.csv", "text,label\nfine,pos\n,neg\n")
    code, _, err = run_cli(capsys, "train", "classify", "--data", bad, "--out", tmp_path / "o", "--model", tiny)
    assert code == 2 and "bad.csv:3: empty text" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "classify", "text")
    assert code == 2 and "no classifier given" in err
    code, _, err = run_cli(capsys, "classify", "text", "--model", tmp_path / "nope")
    assert code == 2 and "does not exist" in err


def test_zero_shot_on_a_tiny_model_saves_and_loads(tiny, tmp_path):
    zs = Classifier.zero_shot({"happy": "a happy text", "sad": ["a sad text"]}, model=tiny, template="{label}.")
    assert zs.labels == ["happy", "sad"] and zs.describe()["method"] == "zero-shot"
    zs.save(tmp_path / "zs")
    again = Classifier.load(tmp_path / "zs")
    np.testing.assert_array_equal(zs.logits(["so happy today"]), again.logits(["so happy today"]))
    again.config["none_threshold"] = 1.01  # no cosine reaches it: "none of these"
    assert again.predict(["anything"]) == [[]]


def test_zero_shot_picks_the_obvious_label(minilm):
    zs = Classifier.zero_shot("sports,politics,cooking,weather")
    texts = [
        "The striker scored twice as the home team won the cup final.",
        "Parliament passed the budget after a long debate between the parties.",
        "Whisk the eggs with sugar, then bake the cake for forty minutes.",
        "Heavy rain and strong winds are expected across the north tomorrow.",
    ]
    assert [p[0]["label"] for p in zs.predict(texts, top_k=1)] == ["sports", "politics", "cooking", "weather"]


def test_zero_shot_calibration_of_none_threshold(minilm):
    from encoderkit.tasks.classify.zero_shot import calibrate

    zs = Classifier.zero_shot("sports,politics")
    texts = [
        "The goalkeeper saved a penalty.",
        "The senate voted on the bill.",
        "My cat sleeps on the sofa.",
        "Quantum spin states.",
    ]
    fitted = calibrate(zs, texts, ["sports", "politics", None, "none"])
    assert fitted["out_of_scope"] == 2 and "none_threshold" in fitted and fitted["temperature"] > 0
    preds = zs.predict(texts, top_k=1)
    assert preds[0][0]["label"] == "sports" and preds[1][0]["label"] == "politics"
    assert sum(1 for p in preds if not p) >= 1


def test_probe_beats_chance_on_real_sst2(minilm, tmp_path):
    if not (SHARED_DATA / "sst2").is_dir():
        pytest.skip("SST-2 not found")
    from encoderkit.data.corpora.labelled import read_labeled

    full = read_labeled(SHARED_DATA / "sst2")
    folder = tmp_path / "slice"
    for split, n in (("train", 300), ("dev", 100), ("test", 200)):
        part = full.split(split)
        write(
            folder / f"{split}.jsonl",
            "".join(json.dumps({"text": t, "label": lab[0]}) + "\n" for t, lab in list(zip(part.texts, part.labels))[:n]),
        )
    s = train_classify(folder, tmp_path / "p", options=ClassifyOptions(method="probe", Cs=(0.1, 1.0, 10.0)))
    assert s["probe"]["test"]["accuracy"] > 0.7  # chance is 0.5


def test_classifier_head_reads_the_encoder_embedding(tiny):
    """The zero-shot head scores Encoder.encode's normalised vectors: precomputed embeddings x head
    weights give the classifier's logits (what the benchmarks use to share one encoding pass)."""
    from encoderkit.models.heads.encoder import Encoder

    zs = Classifier.zero_shot("cats,dogs,cars", model=tiny)
    texts = ["a cat on a mat", "the dog barks", "a red car", "short"]
    emb = Encoder.load(tiny).encode(texts)
    w, b = zs.module.head.weight.detach().numpy(), zs.module.head.bias.detach().numpy()
    np.testing.assert_allclose(emb @ w.T + b, zs.logits(texts), atol=1e-4)


def test_probe_shows_progress_for_every_long_phase(tiny, data, tmp_path, capsys, monkeypatch):
    """`train classify --method probe` was silent while it encoded dev/test and searched C: every phase has a bar."""
    monkeypatch.setenv("ENCODERKIT_QUIET", "0")
    code, _, err = run_cli(capsys, "train", "classify", "--data", data, "--out", tmp_path / "p", "--model", tiny)
    assert code == 0, err
    for phase in ("encoding train", "encoding dev", "choosing C on dev", "best C=", "encoding test"):
        assert phase in err, phase
    code, _, err = run_cli(capsys, "train", "classify", "--data", data, "--out", tmp_path / "q", "--model", tiny, "-q")
    assert code == 0 and "encoding" not in err and "choosing C" not in err


def test_long_label_lists_are_labels_not_file_names(tiny, tmp_path, capsys):
    """More than ~255 characters of --labels ended in "OSError: File name too long" (tried as a path first)."""
    labels = ",".join(f"a rather long label name number {i}" for i in range(12))
    assert len(labels) > 255
    code, out, err = run_cli(capsys, "classify", "some text", "--labels", labels, "--model", tiny, "--json")
    assert code == 0, err
    assert len(json.loads(out)[0]["predictions"]) >= 1 and "Traceback" not in err
    names = write(tmp_path / "labels.txt", "sports: games and teams\npolitics: elections\n")
    code, out, err = run_cli(capsys, "classify", "a game", "--labels", names, "--model", tiny, "--json")
    assert code == 0, err  # a file is still read as one
