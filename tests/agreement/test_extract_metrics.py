"""Extraction metrics against hand-computed examples and conlleval / SemEval scorer conventions."""

from __future__ import annotations

import pytest

from encoderkit.data.corpora.conll import repair
from encoderkit.evaluation.extraction import label_confusion, ner_scores, semeval_scores, word_confusion


def test_ner_scores_hand_computed():
    gold = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "I-ORG"], ["B-MISC", "O", "B-PER"]]
    pred = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "O"], ["B-MISC", "O", "B-LOC"]]
    # gold 5 entities; predicted 5; correct: PER(0-2), LOC(3), MISC -> 3 (ORG boundary wrong, PER/LOC type wrong)
    s = ner_scores(gold, pred)
    assert s["precision"] == pytest.approx(3 / 5) and s["recall"] == pytest.approx(3 / 5) and s["f1"] == pytest.approx(0.6)
    assert s["per_type"]["PER"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(0.6667, abs=1e-4), "support": 2}
    assert s["per_type"]["ORG"]["f1"] == 0.0 and s["gold_entities"] == 5 and s["predicted_entities"] == 5


def test_conlleval_conventions_and_strict_equals_default_on_valid_sequences():
    from seqeval.metrics import f1_score

    # conlleval reads an I- tag after O (or after another type) as the start of an entity: so does repair()
    pred = [["O", "I-PER", "I-PER", "I-LOC", "O"]]
    gold = [["O", "B-PER", "I-PER", "B-LOC", "O"]]
    assert repair(pred[0]) == gold[0]
    assert ner_scores(gold, pred)["f1"] == 1.0
    assert f1_score(gold, pred) == 1.0  # seqeval's default mode is conlleval's reading
    # on valid IOB2 sequences, strict mode and the conlleval mode agree
    gold2 = [["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "O", "B-ORG"]]
    pred2 = [["B-PER", "O", "O", "B-LOC", "I-LOC", "O", "B-ORG"]]
    assert ner_scores(gold2, pred2)["f1"] == pytest.approx(f1_score(gold2, pred2), abs=1e-4)
    assert ner_scores(gold2, pred2)["f1"] == pytest.approx(2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4), abs=1e-4)


def test_ner_scores_rejects_misaligned_input():
    with pytest.raises(ValueError):
        ner_scores([["O", "O"]], [["O"]])


def test_semeval_official_score_hand_computed():
    gold = [
        "Cause-Effect(e1,e2)",
        "Cause-Effect(e2,e1)",
        "Cause-Effect(e1,e2)",
        "Component-Whole(e1,e2)",
        "Other",
        "Other",
    ]
    pred = [
        "Cause-Effect(e1,e2)",  # correct
        "Cause-Effect(e1,e2)",  # right type, wrong direction: wrong for precision and recall
        "Other",  # missed
        "Component-Whole(e1,e2)",  # correct
        "Component-Whole(e2,e1)",  # spurious (gold Other)
        "Other",  # Other/Other: not scored
    ]
    s = semeval_scores(gold, pred)
    ce, cw = s["per_type"]["Cause-Effect"], s["per_type"]["Component-Whole"]
    assert (ce["correct"], ce["predicted"], ce["gold"], ce["wrong_direction"]) == (1, 2, 3, 1)
    assert ce["precision"] == 0.5 and ce["recall"] == pytest.approx(1 / 3, abs=1e-4) and ce["f1"] == 0.4
    assert (cw["correct"], cw["predicted"], cw["gold"]) == (1, 2, 1) and cw["f1"] == pytest.approx(2 / 3, abs=1e-4)
    assert "Other" not in s["per_type"]
    assert s["macro_f1"] == pytest.approx((0.4 + 0.6667) / 2, abs=1e-4)
    assert s["accuracy"] == pytest.approx(3 / 6, abs=1e-4)


def test_confusions():
    labels, m = word_confusion([["B-PER", "I-PER", "O"]], [["B-PER", "B-LOC", "O"]])
    assert labels == ["LOC", "PER", "O"] and m[1, 1] == 1 and m[1, 0] == 1 and m[2, 2] == 1
    labels, m = label_confusion(["A(e1,e2)", "Other"], ["A(e2,e1)", "A(e1,e2)"])
    assert labels == ["A", "Other"] and m.tolist() == [[1, 0], [1, 0]]
