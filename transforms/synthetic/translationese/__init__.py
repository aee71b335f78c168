"""Translationese (Doshi et al. 2024): segment, machine-translate in batches, reassemble, mix clean text.

Pure logic: ``segment`` (sentences within paragraphs, and back), ``mt``
(the MT backend interface and its CPU default), ``checks`` (bad MT output);
``source`` is the Beam source.
"""
