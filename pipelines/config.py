"""Run configuration: YAML, validated before any pipeline starts.

Errors name the key, the bad value and what was expected, e.g.
``output.shard_rows = -5: Input should be greater than 0``.
"""
from __future__ import annotations

import copy
import os
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.registry import REGISTRY
from transforms.core.paths import resolve_path


class ConfigError(Exception):
    """A config that cannot run; the message lists every problem, one per line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputSpec(_Strict):
    paths: list[str] = Field(min_length=1, description="globs; local, gs:// or any Beam filesystem")
    format: Literal["jsonl", "parquet", "text", "warc"] = "jsonl"
    text_field: str = "text"
    id_field: str | None = "id"
    source_field: str | None = "source"
    source: str | None = Field(None, description="source name when records carry none")
    redistribute: bool = Field(
        False, description="reshuffle records after reading (for inputs of a few huge files)"
    )


class _PackingCommon(_Strict):
    tokenizer: str | None = Field(None, description="HF tokenizer directory or tokenizer.json; null: SmolLM2's")
    eos: bool = Field(True, description="end every document with the end-of-document token")
    eos_token: str | None = Field(None, description="null: <|endoftext|> if in the vocabulary, else the "
                                                    "tokenizer_config.json eos_token")
    shard_tokens: int = Field(1 << 24, gt=0, le=1 << 30, description="tokens per output file, about")


class DecomposeSpec(_PackingCommon):
    """Dataset Decomposition: each document → power-of-two sequences, one bucket per length."""

    mode: Literal["decompose"]
    min_log2: int = Field(8, ge=0, le=20)
    max_log2: int = Field(13, ge=0, le=20)

    @model_validator(mode="after")
    def _ordered(self):
        if self.min_log2 > self.max_log2:
            raise ValueError(f"min_log2 ({self.min_log2}) must not exceed max_log2 ({self.max_log2})")
        return self


class ConcatSpec(_PackingCommon):
    """Concat-and-chunk, the baseline: documents end to end, cut every ``seq_len`` tokens."""

    mode: Literal["concat"]
    seq_len: int = Field(2048, gt=0, le=1 << 20)


class OutputSpec(_Strict):
    dir: str
    shard_rows: int = Field(5000, gt=0)
    row_group_rows: int = Field(1000, gt=0)
    zstd_level: int = Field(3, ge=1, le=22)
    write_rejected: bool = True
    packing: DecomposeSpec | ConcatSpec | None = Field(None, discriminator="mode")


class RunnerSpec(_Strict):
    name: str = "FnApiRunner"
    options: dict[str, Any] = Field(default_factory=dict)


class NormalizeSpec(_Strict):
    max_bytes: int = Field(1_000_000, gt=0, description="larger texts are dropped as oversized")
    unicode_form: Literal["NFC", "NFKC", "NFD", "NFKD"] = "NFC"


class StageEntry(BaseModel):
    """One validated stage: its registered name, its label in the ledger, its config."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    name: str
    label: str
    config: BaseModel


class RunConfig(_Strict):
    input: list[InputSpec]
    output: OutputSpec
    runner: RunnerSpec = Field(default_factory=RunnerSpec)
    seed: int = 0
    normalize: NormalizeSpec = Field(default_factory=NormalizeSpec)
    stages: list[Any] = Field(default_factory=list)
    sources: list[Any] = Field(default_factory=list)  # input items with a `kind` (pipelines/sources.py)
    config_dir: str = "."

    @field_validator("input", mode="before")
    @classmethod
    def _one_or_many(cls, value):
        return [value] if isinstance(value, dict) else value

    def stage_entries(self) -> list[StageEntry]:
        return self.stages  # validated into StageEntry objects by load_config


def _format_loc(loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe_errors(errors, prefix: str = "") -> list[str]:
    """pydantic errors as ``key.path: what was expected`` lines (the CLI prints them too)."""
    lines = []
    for err in errors:
        key = _format_loc(tuple(err["loc"]))
        key = f"{prefix}.{key}" if prefix and key else (prefix or key)
        msg = err["msg"]
        if err["type"] == "missing":
            lines.append(f"{key}: required key is missing")
        elif err["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key (value {err['input']!r})")
        else:
            lines.append(f"{key} = {err['input']!r}: {msg}")
    return lines


def _validate_stages(raw_stages: Any) -> tuple[list[StageEntry], list[str]]:
    problems: list[str] = []
    entries: list[StageEntry] = []
    if raw_stages is None:
        return entries, problems
    if not isinstance(raw_stages, list):
        return entries, [f"stages = {raw_stages!r}: expected a list of {{stage_name: {{options}}}}"]
    seen: dict[str, int] = {}
    known = sorted(REGISTRY)
    for i, item in enumerate(raw_stages):
        where = f"stages[{i}]"
        if isinstance(item, str):
            item = {item: {}}
        if not isinstance(item, dict) or len(item) != 1:
            problems.append(f"{where} = {item!r}: expected one mapping {{stage_name: {{options}}}}")
            continue
        (name, params), = item.items()
        if name not in REGISTRY:
            problems.append(f"{where} = {name!r}: unknown stage; expected one of {known}")
            continue
        try:
            cfg = REGISTRY[name].config_model.model_validate(params or {})
        except ValidationError as exc:
            problems.extend(describe_errors(exc.errors(), f"{where}.{name}"))
            continue
        seen[name] = seen.get(name, 0) + 1
        label = name if seen[name] == 1 else f"{name}#{seen[name]}"
        entries.append(StageEntry(name=name, label=label, config=cfg))
    return entries, problems


def _validate_sources(raw: dict) -> tuple[list, list[int], list[str]]:
    """Take the ``input`` items that have a ``kind`` out of ``raw`` and validate them as sources.

    Returns the source entries, the original positions of the remaining (file)
    inputs (so their errors name the right index), and the problems found.
    """
    from pipelines.sources import SOURCES, SourceEntry, is_source_item

    items = raw.get("input")
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        return [], [], []
    entries, positions, rest, problems = [], [], [], []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if not is_source_item(item):
            positions.append(i)
            rest.append(item)
            continue
        where, kind = f"input[{i}]", item["kind"]
        if kind not in SOURCES:
            problems.append(f"{where}.kind = {kind!r}: unknown source; expected one of {sorted(SOURCES)}")
            continue
        try:
            cfg = SOURCES[kind].config_model.model_validate(item)
        except ValidationError as exc:
            problems.extend(describe_errors(exc.errors(), where))
            continue
        seen[kind] = seen.get(kind, 0) + 1
        label = kind if seen[kind] == 1 else f"{kind}#{seen[kind]}"
        entries.append(SourceEntry(name=kind, label=label, config=cfg))
    raw["input"] = rest
    return entries, positions, problems


def _renumber_inputs(errors: list, positions: list[int]) -> list:
    for err in errors:
        loc = tuple(err["loc"])
        if len(loc) > 1 and loc[0] == "input" and isinstance(loc[1], int) and loc[1] < len(positions):
            err["loc"] = ("input", positions[loc[1]], *loc[2:])
    return errors


def apply_override(raw: dict, assignment: str) -> None:
    """Apply ``a.b.c=value`` (value parsed as YAML); list items by index or by stage name."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected key.path=value")
    path, value_text = assignment.split("=", 1)
    value = yaml.safe_load(value_text)
    parts = path.split(".")
    node: Any = raw
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            index = _list_index(node, part, path)
            if last:
                node[index] = value
                return
            node = node[index]
            if isinstance(node, dict) and len(node) == 1 and parts[depth + 1] not in node:
                node = next(iter(node.values()))
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"--set {path}: {'.'.join(parts[:depth])} is not a mapping")
        if last:
            node[part] = value
            return
        if node.get(part) is None:
            node[part] = {}
        node = node[part]


def _list_index(items: list, part: str, path: str) -> int:
    if part.isdigit() and int(part) < len(items):
        return int(part)
    for i, item in enumerate(items):
        if isinstance(item, dict) and part in item:
            if item[part] is None:
                item[part] = {}
            return i
    raise ConfigError(f"--set {path}: no list item {part!r}")


def load_config(
    path: str,
    overrides: list[str] | None = None,
    input_paths: list[str] | None = None,
    output_dir: str | None = None,
) -> RunConfig:
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return config_from_dict(raw, os.path.dirname(os.path.abspath(path)), overrides, input_paths, output_dir, path)


def config_from_dict(
    raw: Any,
    config_dir: str,
    overrides: list[str] | None = None,
    input_paths: list[str] | None = None,
    output_dir: str | None = None,
    name: str = "config",
) -> RunConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: expected a mapping at the top level, got {type(raw).__name__}")
    raw = copy.deepcopy(raw)
    for assignment in overrides or []:
        apply_override(raw, assignment)
    stages, problems = _validate_stages(raw.pop("stages", None))
    sources, positions, source_problems = _validate_sources(raw)
    problems = source_problems + problems
    raw["config_dir"] = config_dir
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as exc:
        problems = describe_errors(_renumber_inputs(exc.errors(), positions)) + problems
        cfg = None
    if cfg is not None and not cfg.input and not sources and not problems and not input_paths:
        problems.append("input: expected at least one input (paths) or source (kind)")
    if problems:
        raise ConfigError(f"{name}: invalid config\n  " + "\n  ".join(problems))
    for spec in cfg.input:
        spec.paths = [resolve_path(p, config_dir) for p in spec.paths]
    cfg.output.dir = resolve_path(cfg.output.dir, config_dir)
    packing = cfg.output.packing
    if packing is not None and packing.tokenizer is not None and not _is_bundled_model(packing.tokenizer):
        packing.tokenizer = resolve_path(packing.tokenizer, config_dir)
    from pipelines.sources import SOURCES

    for entry in sources:
        SOURCES[entry.name].resolve_paths(entry.config, lambda p: resolve_path(p, config_dir))
    cfg.sources = sources
    if input_paths:
        paths = [resolve_path(p, os.getcwd()) for p in input_paths]
        first = cfg.input[0] if cfg.input else InputSpec(paths=paths)
        cfg.input = [first.model_copy(update={"paths": paths})]
    if output_dir:
        cfg.output.dir = resolve_path(output_dir, os.getcwd())
    cfg.stages = stages
    return cfg


def _is_bundled_model(name: str) -> bool:
    from transforms.llm.models import BUNDLED_MODELS

    return name in BUNDLED_MODELS


def config_as_data(cfg: RunConfig) -> dict:
    """The config as run, JSON-ready, for the manifest."""
    data = cfg.model_dump(exclude={"stages", "sources", "config_dir"})
    data["input"] += [s.config.model_dump(mode="json") for s in cfg.sources]
    data["stages"] = [{e.name: e.config.model_dump(mode="json")} for e in cfg.stage_entries()]
    return data
