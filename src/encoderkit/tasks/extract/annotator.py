"""Index-time entity annotator ("entities"): the entities of every indexed document, stored with the
index so that search can filter on them (``encoderkit index DOCS --index IDX --extract runs/ner``, then
``encoderkit search "..." --index IDX --entity PER:obama``, an alias of ``--filter entity=PER:obama``).

Each document's annotation is ``{"entities": [{type, text, start, end, confidence}], "types": {TYPE:
count}}`` (offsets into the document's text); its filter values are ``entity`` = ``TYPE:text``
(lower-cased, runs of spaces collapsed) and ``entity_type`` = ``TYPE``. Settings: ``model`` (a tagger or
an extraction model folder), ``min_confidence`` (0.5), ``backend`` (torch | onnx | onnx-int8). The key
is the model's fingerprint plus the confidence threshold, so a new model re-annotates everything.

>>> EntityAnnotator.filter_values(None, {"entities": [{"type": "PER", "text": "Barack  Obama"}]})
{'entity': ['per:barack obama'], 'entity_type': ['per']}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ...errors import EncoderkitError
from ...index.write.annotate import Annotator, register_annotator
from ...models.card import head_fingerprint, read_card


def _tagger_path(model: str | Path) -> Path:
    path = Path(model)
    card = read_card(path)
    if card.get("kind") == "tagger":
        return path
    if card.get("kind") == "extraction" and (card.get("components") or {}).get("ner"):
        return path / card["components"]["ner"]
    raise EncoderkitError(
        f"'{model}' has no entity tagger", hint="pass a folder made by `encoderkit train ner` or `train extract`"
    )


@register_annotator
class EntityAnnotator(Annotator):
    name = "entities"

    def __init__(self, settings: dict):
        super().__init__(settings)
        if not self.settings.get("model"):
            raise EncoderkitError("the entities annotator needs a model", hint="encoderkit index ... --extract runs/ner")
        self._tagger = None
        self._key: str | None = None

    @classmethod
    def default_settings(cls) -> dict:
        return {"model": None, "min_confidence": 0.5, "backend": "torch"}

    def key(self) -> str:
        if self._key is None:
            self._key = f"{head_fingerprint(_tagger_path(self.settings['model']))}:{float(self.settings['min_confidence'])}"
        return self._key

    def annotate(self, docs: Sequence[Any]) -> list[dict]:
        if self._tagger is None:
            from ...models.heads.tagger import Tagger

            self._tagger = Tagger.load(_tagger_path(self.settings["model"]), backend=self.settings.get("backend") or "torch")
        found = self._tagger.extract(
            [d.text for d in docs], min_confidence=float(self.settings["min_confidence"]), show_progress=False
        )
        out = []
        for ents in found:
            types: dict[str, int] = {}
            for e in ents:
                types[e["type"]] = types.get(e["type"], 0) + 1
            out.append({"entities": ents, "types": types})
        return out

    def filter_values(self, annotation: dict) -> dict[str, list[str]]:
        ents = annotation.get("entities") or []
        values = sorted({f"{e['type']}:{' '.join(e['text'].split())}".lower() for e in ents})
        return {"entity": values, "entity_type": sorted({e["type"].lower() for e in ents})}
