"""The heads on the shared :class:`~encoderkit.models.backbone.Backbone`, one module per model family:
bi-encoder (:mod:`.encoder`, pooling in :mod:`.pooling`), cross-encoder (:mod:`.cross_encoder`),
late interaction (:mod:`.colbert`), sequence classifier (:mod:`.classifier`), token tagger
(:mod:`.tagger`, with :mod:`.casing`, :mod:`.decoding` and :mod:`.windows`) and span-pair classifier
(:mod:`.span_pair`); the torch modules of the trained heads are in :mod:`.torch_modules`.
"""
