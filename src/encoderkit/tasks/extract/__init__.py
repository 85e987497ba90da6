"""Information extraction served by small encoders: entities (BIO tagger), relations (span-pair
classifier) and schema-driven frames, with character offsets, evidence sentences and confidences.

>>> from encoderkit.tasks.extract import Extractor
>>> ext = Extractor.load("runs/ner")                        # doctest: +SKIP
>>> ext.extract(["Angela Merkel visited Paris."])           # doctest: +SKIP
"""

from .extractor import Extractor
from .schema import Schema

__all__ = ["Extractor", "Schema"]
