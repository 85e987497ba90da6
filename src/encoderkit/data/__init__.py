"""Reading user data: files and folders, chunking, BEIR corpora/queries/qrels, STS pairs, training pairs.

Nothing in this package loads a model; tokenizers are passed in where token counts matter.
"""
