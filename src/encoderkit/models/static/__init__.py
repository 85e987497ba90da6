"""Static embeddings: one vector per token, a text's vector the mean of its tokens' (no transformer at
query or index time). :mod:`.distill` makes one from an encoder the way Model2Vec does; the folder it
writes is Model2Vec's own layout, so ``model2vec.StaticModel`` loads it."""
