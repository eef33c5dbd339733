"""Code that exists only for speed, kept apart from the plain logic it speeds up.

``parallel``: forked processes over byte ranges of a large JSON Lines file.
"""
