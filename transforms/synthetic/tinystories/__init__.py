"""TinyStories (Eldan & Li 2023): prompts from a child vocabulary, generation, checks, judge, output formats.

Pure logic lives in ``vocabulary``, ``prompts``, ``checks``, ``judge`` and
``instruct``; ``source`` is the Beam source that wires them to the LLM backend.
"""
