"""Beam's ``--setup_file`` needs a file named setup.py; the package metadata lives in pyproject.toml.

Dataflow builds an sdist from this directory and installs it (with its
dependencies) on every worker.
"""
from setuptools import setup

setup()
