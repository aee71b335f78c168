"""The installed copy works like the checkout, as on a Dataflow worker.

A clean copy of the repository is built into a wheel and an sdist (the sdist by
Beam's own ``--setup_file`` builder); the sdist is pip-installed into a directory
of its own and run from outside the repository with only that directory on
PYTHONPATH, so every module and data file must come from the installed copy:
imports, every CPU stage on multi-process FnApiRunner (whose workers unpickle
the DoFns in fresh processes), and the TinyStories vocabulary.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.support.corpora import REPO, SAMPLE_DIR
from transforms.ordering.embeddings import default_model_path

PACKAGES = ("pipelines", "transforms", "schemas")
PYTHON = sys.executable


def _sh(*cmd, cwd, env=None, timeout=300) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{cmd}: rc {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _repo_files() -> list[str]:
    """What a clone would hold: tracked files plus new ones not yet added (not ignored), as on disk."""
    listed = _sh("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO).stdout
    return sorted(f for f in listed.split("\0") if f and (REPO / f).is_file())

pytestmark = pytest.mark.slow  # builds, installs and runs a copy: minutes


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("installed")
    src, dist = tmp / "src", tmp / "dist"
    files = _repo_files()
    for rel in files:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, src / rel)
    package_files = [f for f in files if f.split("/")[0] in PACKAGES and "__pycache__" not in f]
    _sh(PYTHON, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist, src, cwd=src)
    # Exactly what `--setup_file ./setup.py` runs: `python -m build --sdist --no-isolation`
    # when build is installed, else `setup.py sdist`.
    _sh(PYTHON, "-c", "import sys; from apache_beam.runners.portability.stager import Stager; "
        "print(Stager._build_setup_package(sys.argv[1], sys.argv[2]))", src / "setup.py", dist, cwd=src)
    (wheel,), (sdist,) = dist.glob("*.whl"), dist.glob("*.tar.gz")
    # Installed inside some other git repository: its commit must not end up in our manifests.
    foreign = tmp / "foreign"
    foreign.mkdir()
    _sh("git", "init", "-q", cwd=foreign)
    _sh("git", "-c", "user.name=x", "-c", "user.email=x@example.com", "commit", "-q", "--allow-empty", "-m", "x", cwd=foreign)
    site = foreign / "site"
    _sh(PYTHON, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", site, sdist, cwd=tmp)
    work = tmp / "work"  # cwd outside the repository and the source copy: `python -m` puts cwd on sys.path
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CORPUSMILL_MODELS")}
    env.update(PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp / "cache"))
    return {"tmp": tmp, "wheel": wheel, "sdist": sdist, "site": site, "work": work, "env": env,
            "package_files": package_files}


def _in_installed(installed, *args, timeout=300) -> subprocess.CompletedProcess:
    return _sh(PYTHON, *args, cwd=installed["work"], env=installed["env"], timeout=timeout)


def test_wheel_and_sdist_hold_every_module_and_data_file(installed):
    expected = set(installed["package_files"])
    modules = {f for f in expected if f.endswith(".py")}
    data = expected - modules
    assert len(modules) > 60 and "transforms/llm/vllm_engine.py" in modules
    assert "transforms/synthetic/tinystories/vocabulary.json" in data
    in_wheel = {n for n in zipfile.ZipFile(installed["wheel"]).namelist() if n.split("/")[0] in PACKAGES}
    with tarfile.open(installed["sdist"]) as tar:
        in_sdist = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert sorted(expected - in_wheel) == []
    assert sorted(expected - in_sdist) == []
    assert {"pyproject.toml", "setup.py", "README.md"} <= in_sdist


def test_every_module_imports_from_the_installed_copy(installed):
    site = installed["site"]
    script = (
        "import importlib, json, pkgutil, sys\n"
        "site = sys.argv[1]\n"
        "names = []\n"
        "for top in ('pipelines', 'transforms', 'schemas'):\n"
        "    names.append(top)\n"
        "    names += [m.name for m in pkgutil.walk_packages([site + '/' + top], top + '.')]\n"
        "print(json.dumps({n: importlib.import_module(n).__file__ for n in names}))\n"
    )
    files = json.loads(_in_installed(installed, "-c", script, site).stdout)
    expected = {f[:-3].replace("/", ".").removesuffix(".__init__") for f in installed["package_files"] if f.endswith(".py")}
    assert sorted(expected - set(files)) == []
    outside = {n: f for n, f in files.items() if not f.startswith(str(site) + os.sep)}
    assert outside == {}  # the editable install of the checkout is shadowed


def test_installed_copy_finds_its_data_and_claims_no_checkout(installed):
    script = (
        "import json\n"
        "from transforms.synthetic.tinystories.vocabulary import DEFAULT_RESOURCE, load_vocabulary\n"
        "from transforms.llm.models import models_dir\n"
        "from transforms.outputs.manifest import git_commit\n"
        "v = load_vocabulary()\n"
        "print(json.dumps([str(DEFAULT_RESOURCE), len(v.nouns), len(v.verbs), len(v.adjectives), str(models_dir()), git_commit()]))\n"
    )
    resource, nouns, verbs, adjectives, models, commit = json.loads(_in_installed(installed, "-c", script).stdout)
    assert resource == str(installed["site"] / "transforms" / "synthetic" / "tinystories" / "vocabulary.json")
    assert (nouns, verbs, adjectives) == (750, 400, 350)
    if sys.platform.startswith("linux"):  # the per-user cache dir ($XDG_CACHE_HOME), not the checkout's models/
        assert models == str(installed["tmp"] / "cache" / "corpusmill" / "models")
    assert not models.startswith((str(REPO), str(installed["site"])))
    assert commit is None  # site/ sits in a git repository, but not in corpusmill's


def test_console_script_is_quiet_and_runs_every_cpu_stage_on_two_worker_processes(installed, tmp_path):
    corpusmill = installed["site"] / "bin" / "corpusmill"
    work = installed["work"]
    helped = _sh(corpusmill, "--help", cwd=work, env=installed["env"])
    assert helped.stderr == "" and "train-quality" in helped.stdout

    model = tmp_path / "quality.bin"
    trained = _sh(corpusmill, "train-quality", REPO / "configs" / "quality-train.yaml", "--set", f"output={model}",
                  "--set", "max_docs_per_class=150", cwd=work, env=installed["env"])
    assert model.exists(), trained.stdout
    out = tmp_path / "out"
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps({
        "input": {"paths": [str(SAMPLE_DIR / n) for n in ("licenses.jsonl.zst", "sonnets.jsonl", "malformed.jsonl.zst")]},
        # concat packing after icp_order (rank order) with another HF tokenizer: the MiniLM one in its wheel
        "output": {"dir": str(out), "shard_rows": 100,
                   "packing": {"mode": "concat", "seq_len": 256, "tokenizer": default_model_path(), "eos_token": "[SEP]"}},
        "runner": {"name": "FnApiRunner", "options": {"direct_running_mode": "multi_processing", "direct_num_workers": 2}},
        "stages": [
            {"exact_dedup": {}},
            {"minhash_dedup": {}},
            {"language_id": {}},
            {"heuristic_filters": {}},
            {"prox": {"writer": "rules"}},
            {"quality_classifier": {"model_path": str(model), "top_fraction": 0.5}},
            # the same embedding settings: icp_order reuses cluster_select's vectors
            {"cluster_select": {"clusters": 3, "target_fraction": 0.8,
                                "embedding": {"batch_size": 32, "max_seq_length": 64}}},
            {"icp_order": {"clusters": 2, "context_tokens": 512, "knn": {"k": 8},
                           "embedding": {"batch_size": 32, "max_seq_length": 64}}},
        ],
    }))
    validated = _sh(corpusmill, "validate", config, cwd=work, env=installed["env"])
    assert validated.stderr == "" and ": ok" in validated.stdout
    ran = _sh(corpusmill, "run", config, cwd=work, env=installed["env"], timeout=600)
    assert ran.stderr == ""  # neither Beam's import-time warning nor its worker processes' INFO lines

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok", manifest["ledger_problems"]
    stages = [e["stage"] for e in manifest["ledger"]]
    assert stages == ["normalize", "exact_dedup", "minhash_dedup", "language_id", "heuristic_filters", "prox",
                      "quality_classifier", "cluster_select", "icp_order"]
    assert all(e["in"] > 0 for e in manifest["ledger"])
    normalize, exact = manifest["ledger"][0], manifest["ledger"][1]
    assert normalize["quarantined"] > 0  # the malformed lines
    assert normalize["reasons"].get("exact_duplicate", 0) + exact["dropped"] > 0  # copies (same content id, or folded)
    assert manifest["git_commit"] is None
    assert manifest["stage_stats"]["quality_classifier"]["model_sha256"]
    table = pq.read_table(out / "data")
    assert table.num_rows == manifest["totals"]["kept_rows"] > 0
    assert table.column("context_id").null_count == 0 and table.column("cluster_id").null_count == 0
    assert manifest["beam_counters"]["embeddings/reused"] == manifest["ledger"][-1]["in"]
    assert pq.read_table(out / "rejected").num_rows == manifest["totals"]["rejected_rows"]
    packing = manifest["packing"]
    assert packing["documents"] == table.num_rows and packing["tokenizer"]["eos_token"] == "[SEP]"
    assert pq.read_table(out / "packed").num_rows == packing["sequences"] > 0


def test_checkout_reports_its_models_dir_and_commit(monkeypatch):
    """The checkout side of the same decisions: models/ beside pyproject.toml, the checkout's own commit."""
    from transforms.llm.models import models_dir
    from transforms.outputs.manifest import git_commit

    monkeypatch.delenv("CORPUSMILL_MODELS", raising=False)
    assert models_dir() == REPO / "models"
    monkeypatch.setenv("CORPUSMILL_MODELS", "/elsewhere")
    assert models_dir() == Path("/elsewhere")
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    commit = git_commit()
    if head.returncode == 0:
        assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", commit) and commit.startswith(head.stdout.strip())
    else:  # an exported tree without .git
        assert commit is None
