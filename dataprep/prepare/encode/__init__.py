"""Rows -> encoded documents: the gate, the encoder and its masks, lengths, workers.

``gate`` applies validate's row checks; ``encoder`` renders, tokenizes and labels one
example; ``masks`` finds each trained turn in one rendering and ``verify`` proves the
method against a render-diff reference; ``pieces`` tokenizes long renderings in pieces;
``lengths`` and ``bounds`` apply the length policy; ``workers`` runs it all per batch.
"""
