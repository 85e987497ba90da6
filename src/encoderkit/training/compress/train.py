"""`encoderkit compress`: distil a sentence encoder into a smaller, faster student on your own text.

The student keeps a subset of the teacher's layers, optionally a smaller hidden size
(:mod:`.student`), and learns to reproduce the teacher on unlabeled text (passages and sentences of
the user's corpus, :mod:`encoderkit.data.corpora.texts`):

* sentence embeddings (Reimers & Gurevych 2020, "Making monolingual sentence embeddings multilingual
  using knowledge distillation": MSE between student and teacher vectors), as terms joined by "+":
  ``cosine`` (1 - cosine, the geometry retrieval uses), ``mse`` (raw pooled vectors) and ``similarity``
  (MSE between the in-batch cosine matrices: relational, needs no common space);
* optionally the token states of the mapped layers (TinyBERT, Jiao et al. 2020) and the self-attention
  relations of the last layer (MiniLMv2, Wang et al. 2021: KL between the query-query, key-key and
  value-value scaled dot-product distributions, per relation head; any widths).

A smaller hidden size compares through a linear projection into the teacher's space (initialised to
put each kept channel back in its place, trained with the student, not saved). Without token or
attention terms the teacher's vectors are computed once and cached; otherwise the teacher runs with
the student. Training runs on the one loop (:mod:`.loop`): validation each epoch (mean cosine to the
teacher on held-out texts; optionally STS Spearman and retrieval nDCG@10 on dev data), best-model
export, exact resume. The student is a sentence-transformers folder: ``Encoder.load``, ``encoderkit
index/search/train/export onnx`` take it like any model.

>>> train_compress("default", "runs/small", layers=3, corpus_paths=["../shared/data/scifact/corpus.jsonl"])  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ...errors import EncoderkitError
from ..batching import length_batches
from ..loop import TrainConfig, Trainer, split_by_name
from .losses import QKVCapture, embedding_loss, relation_kl, token_state_loss

ST_FILES = ("config_sentence_transformers.json",)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "merges.txt", "vocab.json")


# ---------------------------------------------------------------------------- the objective
class CompressObjective:
    """Student (+ projection into the teacher's space) trained on ``texts`` against the teacher.

    ``teacher_vectors`` [n, d_t]: precomputed teacher embeddings of ``texts`` (None: the teacher runs
    online, needed for the token and attention terms). ``layer_map``: for each student layer, the teacher
    layer it mirrors (token-state term). ``validator()`` returns the validation metrics.
    """

    name = "compress"

    def __init__(
        self,
        student,
        tokenizer,
        texts: list[str],
        *,
        pooling: str,
        max_length: int,
        loss_terms: Sequence[str] = ("cosine",),
        teacher_vectors: np.ndarray | None = None,
        teacher=None,
        proj=None,
        token_weight: float = 0.0,
        attention_weight: float = 0.0,
        layer_map: Sequence[int] = (),
        lengths: Sequence[int] | None = None,
        validator: Callable[[], dict] | None = None,
        metric: str | None = "cosine_to_teacher",
        exporter: Callable[[Path], None] | None = None,
    ):
        import torch

        if teacher_vectors is None and teacher is None:
            raise EncoderkitError("compress needs the teacher's vectors or the teacher itself")
        self.module = torch.nn.ModuleDict({"student": student} | ({"proj": proj} if proj is not None else {}))
        self.student, self.proj = student, proj
        self.tokenizer = tokenizer
        self.texts = texts
        self.pooling = pooling
        self.max_length = max_length
        self.loss_terms = list(loss_terms)
        self.teacher_vectors = teacher_vectors
        self.teacher = teacher
        self.token_weight = token_weight
        self.attention_weight = attention_weight
        self.layer_map = list(layer_map)
        self.lengths = list(lengths) if lengths is not None else [len(t) for t in texts]
        self.validator = validator
        self.metric = metric if validator is not None else None
        self.exporter = exporter
        self.n_examples = len(texts)

    def named_groups(self) -> dict:
        return split_by_name(self.module.named_parameters(), ("proj.",))

    def batches(self, epoch: int, batch_size: int, seed: int) -> list[list[int]]:
        return length_batches(self.lengths, batch_size, seed, epoch)

    def features(self, texts: Sequence[str]):
        feats = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return feats.to(next(self.student.parameters()).device)  # the student's device (a GPU when training there)

    def loss(self, batch: list[int], epoch: int):
        import torch

        from ...models.heads.pooling import pool

        feats = self.features([self.texts[i] for i in batch])
        mask = feats["attention_mask"]
        need_tokens = self.token_weight > 0
        need_rel = self.attention_weight > 0
        cap_s = QKVCapture(self.student.base_model.encoder.layer[-1].attention.self) if need_rel else None
        try:
            out = self.student(**feats, output_hidden_states=need_tokens)
        finally:
            if cap_s is not None:
                cap_s.remove()
        emb = pool(out.last_hidden_state, mask, self.pooling)
        tout, cap_t = None, None
        if self.teacher is not None:
            layer_t = self.teacher.base_model.encoder.layer[self.layer_map[-1]] if need_rel else None
            cap_t = QKVCapture(layer_t.attention.self) if need_rel else None
            try:
                with torch.no_grad():
                    tout = self.teacher(**feats, output_hidden_states=need_tokens)
            finally:
                if cap_t is not None:
                    cap_t.remove()
            target = pool(tout.last_hidden_state, mask, self.pooling).float()
        else:
            target = torch.as_tensor(self.teacher_vectors[batch])
        projected = self.proj(emb) if self.proj is not None else emb
        loss, stats = embedding_loss(projected.float(), target, self.loss_terms)
        if need_tokens:
            t_states = [tout.hidden_states[i + 1] for i in self.layer_map]
            tok = token_state_loss(out.hidden_states[1:], t_states, mask, self.proj)
            loss = loss + self.token_weight * tok
            stats["token"] = float(tok.detach())
        if need_rel:
            heads = self.student.config.num_attention_heads
            rel = sum(relation_kl(cap_s.out[k], cap_t.out[k], mask, heads) for k in ("query", "key", "value")) / 3
            loss = loss + self.attention_weight * rel
            stats["attention"] = float(rel.detach())
        return loss, stats

    def encode(self, texts: Sequence[str], batch_size: int = 64, project: bool = False) -> np.ndarray:
        """Student vectors (L2-normalised unless ``project``: then raw, in the teacher's space), in eval use."""
        import torch

        from ...models.heads.pooling import pool

        order = np.argsort([-len(t) for t in texts], kind="stable")
        dim = self.proj.out_features if project and self.proj is not None else self.student.config.hidden_size
        res = np.zeros((len(texts), dim), dtype=np.float32)
        with torch.no_grad():
            for s in range(0, len(order), batch_size):
                idx = order[s : s + batch_size]
                feats = self.features([texts[i] for i in idx])
                v = pool(self.student(**feats).last_hidden_state, feats["attention_mask"], self.pooling)
                if project and self.proj is not None:
                    v = self.proj(v)
                elif not project:
                    v = torch.nn.functional.normalize(v, dim=-1)
                res[idx] = v.float().cpu().numpy()
        return res

    def evaluate(self) -> dict:
        return self.validator() if self.validator is not None else {}

    def export(self, folder: Path) -> None:
        if self.exporter is not None:
            self.exporter(folder)


# ---------------------------------------------------------------------------- saving
def save_student(
    folder: Path, student, teacher_path: Path, *, pooling_config: dict, max_length: int, normalize: bool, card: dict
) -> None:
    """Write the student as a sentence-transformers folder (Transformer at the root, Pooling, Normalize)
    with the teacher's tokenizer files and an ``encoderkit_model.json`` card."""
    from ...models.layout import transformer_dir

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    student.save_pretrained(folder)
    tdir = transformer_dir(teacher_path)
    for name in TOKENIZER_FILES:
        for src in (tdir / name, Path(teacher_path) / name):
            if src.is_file():
                shutil.copy(src, folder / name)
                break
    for name in ST_FILES:
        if (Path(teacher_path) / name).is_file():
            shutil.copy(Path(teacher_path) / name, folder / name)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
        (folder / "2_Normalize").mkdir(exist_ok=True)
    (folder / "modules.json").write_text(json.dumps(modules, indent=2))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    pool_cfg = {**pooling_config, "word_embedding_dimension": int(student.config.hidden_size)}
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pool_cfg, indent=2))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": int(max_length), "do_lower_case": False}))
    (folder / "encoderkit_model.json").write_text(json.dumps(card, indent=1))


def teacher_vectors_cached(encoder, texts: list[str], max_length: int, show_progress: bool | None) -> np.ndarray:
    """The teacher's raw pooled vectors of ``texts`` (cached under $ENCODERKIT_CACHE/compress by teacher
    fingerprint, token limit and content)."""
    from ...runtime.onnx import cache_root

    h = hashlib.sha256(f"{encoder.fingerprint}|{encoder.pooling}|{max_length}|".encode())
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass") + b"\x00")
    path = cache_root() / "compress" / f"{h.hexdigest()[:20]}.npy"
    if path.is_file():
        vecs = np.load(path)
        if vecs.shape[0] == len(texts):
            return vecs
    vecs = encoder.encode(texts, normalize=False, batch_size=64, max_length=max_length, show_progress=show_progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vecs.astype(np.float32))
    tmp.replace(path)
    return vecs


# ---------------------------------------------------------------------------- the run
def _plain_layout(path: Path, what: str) -> dict:
    from ...models.layout import read_st_layout

    layout = read_st_layout(path) or {"pooling": None, "normalize": False, "unsupported": []}
    if layout["unsupported"]:
        raise EncoderkitError(
            f"the {what} {path} has modules after pooling ({', '.join(layout['unsupported'])}) that a student cannot copy",
            hint="pass --init with a plain Transformer + Pooling model for the student's layers",
        )
    return layout


def _pooling_config(path: Path, pooling: str) -> dict:
    from ...models.layout import read_json

    cfg = read_json(Path(path) / "1_Pooling" / "config.json")
    if cfg:
        return cfg
    key = {"mean": "mean_tokens", "cls": "cls_token", "max": "max_tokens", "weighted_mean": "weightedmean_tokens"}
    return {f"pooling_mode_{key.get(pooling, 'mean_tokens')}": True}


def _split_texts(texts: list[str], n_val: int, max_texts: int | None, seed: int) -> tuple[list[str], list[str]]:
    order = np.random.default_rng([int(seed) & 0xFFFFFFFF, 23]).permutation(len(texts)).tolist()
    n_val = min(n_val, len(texts) // 5)
    val = [texts[i] for i in order[:n_val]]
    train = [texts[i] for i in order[n_val:]]
    if max_texts:
        train = train[:max_texts]
    return train, val


def compress_validator(objective: CompressObjective, val_texts, val_teacher, *, sts_pairs=None, ir=None) -> Callable[[], dict]:
    """Validation metrics: agreement with the teacher on held-out texts (mean cosine in the teacher's
    space when comparable; correlation of the pairwise cosine matrices always), STS Spearman, retrieval."""
    from ..validate import cosine_rows

    tri = np.triu_indices(len(val_texts), k=1) if len(val_texts) >= 3 else None
    t_norm = val_teacher / np.clip(np.linalg.norm(val_teacher, axis=1, keepdims=True), 1e-12, None)
    t_pairs = (t_norm @ t_norm.T)[tri] if tri is not None else None
    comparable = objective.proj is not None or objective.student.config.hidden_size == val_teacher.shape[1]

    def run() -> dict:
        res: dict = {}
        if len(val_texts):
            s = objective.encode(val_texts)
            if comparable:
                res["cosine_to_teacher"] = round(
                    float(cosine_rows(objective.encode(val_texts, project=True), val_teacher).mean()), 4
                )
            if tri is not None:
                res["similarity_corr"] = round(float(np.corrcoef((s @ s.T)[tri], t_pairs)[0, 1]), 4)
        if sts_pairs:
            from scipy.stats import spearmanr

            a = objective.encode([p.a for p in sts_pairs])
            b = objective.encode([p.b for p in sts_pairs])
            gold = np.array([p.score for p in sts_pairs])
            res["sts_spearman"] = round(float(spearmanr((a * b).sum(1), gold).statistic), 4)
        if ir is not None:
            res.update(ir())
        return res

    return run


def train_compress(
    teacher: str | Path = "default",
    out: str | Path = "compressed",
    *,
    layers: int = 3,
    layer_selection: str = "even",
    width: int | None = None,
    init: str | Path | None = None,
    corpus_paths: Sequence[str | Path] = (),
    lines: bool = False,
    sentences: bool = True,
    max_texts: int | None = None,
    max_length: int | None = None,
    loss: str = "cosine",
    token_weight: float = 0.0,
    attention_weight: float = 0.0,
    val_texts: int = 500,
    val_sts: str | Path | None = None,
    val_beir: str | Path | None = None,
    val_split: str = "train",
    val_queries: int = 200,
    val_corpus_size: int = 1000,
    metric: str | None = None,
    calibration_texts: int = 256,
    train_config: TrainConfig | None = None,
    resume: bool = False,
    show_progress: bool | None = None,
) -> dict:
    """Distil ``teacher`` into a student with ``layers`` of its layers (``init``: take the layers from
    another, smaller model instead); the best student by validation is saved to ``out``."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from ...data.corpora.texts import distillation_texts, read_documents
    from ...models.heads.encoder import Encoder
    from ...models.layout import transformer_dir
    from ...models.ref import resolve_model
    from ...runtime import configure_torch
    from .losses import parse_loss

    configure_torch()
    hf_logging.disable_progress_bar()  # no "Writing model shards" bar at every export
    cfg = train_config or TrainConfig(lr=1e-4, batch_size=32, epochs=1.0, warmup_ratio=0.05)
    torch.manual_seed(cfg.seed)  # a projection into another model's space starts random: reproducibly
    out = Path(out)
    terms = parse_loss(loss)
    if token_weight < 0 or attention_weight < 0:
        raise EncoderkitError("--token-weight and --attention-weight must be >= 0")
    if not corpus_paths:
        raise EncoderkitError("compress needs unlabeled text", hint="pass files or folders with --corpus")
    tea_enc = Encoder.load(teacher)
    init_ref = resolve_model(init) if init is not None else tea_enc.ref
    same_space = init is None or init_ref.path.resolve() == tea_enc.ref.path.resolve()
    init_layout = _plain_layout(init_ref.path, "teacher" if same_space else "init model")
    online = token_weight > 0 or attention_weight > 0
    if online and not same_space:
        raise EncoderkitError(
            "token and attention terms need the student's layers to come from the teacher",
            hint="leave --init out, or set --token-weight 0 --attention-weight 0",
        )
    limit = int(max_length or tea_enc.max_length)
    tdir = transformer_dir(init_ref.path)
    tokenizer = AutoTokenizer.from_pretrained(tdir)
    base = AutoModel.from_pretrained(tdir).eval()
    pooling = init_layout["pooling"] or "mean"

    docs, skipped = read_documents(corpus_paths, lines=lines)
    if not docs:
        raise EncoderkitError(
            f"no documents found in {', '.join(map(str, corpus_paths))}" + (f" (first skipped: {skipped[0]})" if skipped else ""),
            hint="pass text, Markdown, HTML or BEIR .jsonl files (with --lines, .txt files hold one text per line)",
        )
    raw_tok = Encoder.load(init_ref.path).raw_tokenizer() if not same_space else tea_enc.raw_tokenizer()
    texts = distillation_texts(docs, raw_tok, max_tokens=limit - 2, sentences=sentences)
    train_texts, held = _split_texts(texts, val_texts, max_texts, cfg.seed)
    lengths = [len(e.ids) for e in raw_tok.encode_batch(train_texts, add_special_tokens=False)]

    from .student import build_student, n_layers_key, select_layers

    n_teacher_layers = getattr(base.config, n_layers_key(base.config))
    chosen = select_layers(n_teacher_layers, layers, layer_selection)
    calib = None
    if width is not None:
        sample = [
            train_texts[i] for i in np.linspace(0, len(train_texts) - 1, min(calibration_texts, len(train_texts))).astype(int)
        ]
        calib = tokenizer(sample, padding=True, truncation=True, max_length=limit, return_tensors="pt")
    student, plan = build_student(base, chosen, width=width, calibration=calib)
    d_s, d_t = int(student.config.hidden_size), int(tea_enc.dim)
    needs_space = any(t in ("cosine", "mse") for t in terms) or token_weight > 0
    proj = None
    if needs_space and (d_s != d_t or not same_space):
        proj = torch.nn.Linear(d_s, d_t, bias=False)
        with torch.no_grad():
            if same_space and plan.hidden is not None:  # put each kept channel back where it came from
                proj.weight.zero_()
                proj.weight[torch.tensor(plan.hidden), torch.arange(d_s)] = 1.0
            elif d_s == d_t:
                proj.weight.copy_(torch.eye(d_s))
    teacher_model = None
    if online:
        teacher_model = base
        for p in teacher_model.parameters():
            p.requires_grad_(False)
        train_vecs = None
        val_vecs = teacher_vectors_cached(tea_enc, held, limit, show_progress) if held else np.zeros((0, d_t), np.float32)
    else:
        all_vecs = teacher_vectors_cached(tea_enc, train_texts + held, limit, show_progress)
        train_vecs, val_vecs = all_vecs[: len(train_texts)], all_vecs[len(train_texts) :]

    card = {
        "name": f"{tea_enc.name} compressed to {layers} layers"
        + (f", width {d_s}" if d_s != int(base.config.hidden_size) else ""),
        "task": "compress",
        "teacher": tea_enc.describe(),
        "init": init_ref.name if not same_space else None,
        "layer_selection": layer_selection,
        "plan": plan.summary(),
        "hidden_size": d_s,
        "loss": terms,
        "token_weight": token_weight,
        "attention_weight": attention_weight,
        "corpus": [str(p) for p in corpus_paths],
        "n_train_texts": len(train_texts),
        "n_val_texts": len(held),
        "max_length": limit,
        "parameters": int(sum(p.numel() for p in student.parameters())),
        "teacher_parameters": int(sum(p.numel() for p in base.parameters())) if same_space else None,
    }

    from ...models.layout import read_st_layout

    normalize = bool(init_layout["normalize"]) or read_st_layout(init_ref.path) is None

    def exporter(folder: Path) -> None:
        save_student(
            folder,
            student,
            init_ref.path,
            pooling_config=_pooling_config(init_ref.path, pooling),
            max_length=limit,
            normalize=normalize,
            card=card,
        )

    objective = CompressObjective(
        student,
        tokenizer,
        train_texts,
        pooling=pooling,
        max_length=limit,
        loss_terms=terms,
        teacher_vectors=train_vecs,
        teacher=teacher_model,
        proj=proj,
        token_weight=token_weight,
        attention_weight=attention_weight,
        layer_map=chosen,
        lengths=lengths,
        exporter=exporter,
    )
    sts_pairs = None
    if val_sts is not None:
        from ...data.corpora.sts import read_sts

        sts_pairs = read_sts(val_sts, "dev")
    ir = None
    if val_beir is not None:
        from ...data.corpora.pairs import load_training_data, split_validation
        from ..validate import ir_validator

        data = load_training_data(val_beir, split=val_split)
        n_q = len({p.query_id for p in data.pairs})
        _, sub = split_validation(data, min(1.0, val_queries / max(1, n_q)), cfg.seed)
        ir = ir_validator(sub, data.corpus, objective.encode, size=val_corpus_size, seed=cfg.seed)
    objective.validator = compress_validator(objective, held, val_vecs, sts_pairs=sts_pairs, ir=ir)
    default_metric = "cosine_to_teacher" if (proj is not None or d_s == d_t) and held else "similarity_corr"
    objective.metric = metric or default_metric
    card["selection_metric"] = objective.metric
    return Trainer(objective, cfg, out, show_progress, {"card": card}).run(resume=resume)
