"""The run report: ``OUT/report/index.html`` with PNG plots beside it.

A static page (relative links only) that opens from disk or a bucket with no
server. Each plot appears only when its data exists: a column that some stage
filled, or a statistic a stage reported. Per-document distributions are read
from the written shards (only the columns needed, at most ``max_rows`` rows:
shards are hash-partitioned, so their first rows are an unbiased sample). The
score plots (quality score, perplexity) also read the rejected rows that carry a
score, so they show what the cut removed, not only what it kept. Ledger,
cluster sizes, cut points and ICP similarities come from the manifest.

Statistics a stage can report for a plot (``stage_stats[label][name]``):
``cluster_size_histogram`` (``{"2": n, "3-4": n, ...}``), ``perplexity_band``
(``[low, high]``), ``score_cut`` / ``threshold`` (quality cut), and
``adjacent_similarity`` (a list of values or ``{"bins": [...], "counts": [...]}``)
for consecutive documents of an In-Context-Pretraining order, or its summary
``mean_adjacent_cosine`` (with ``random_order_cosine``), which ``icp_order`` reports.
"""
from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.decontam.summary import contamination_html
from transforms.io.normalize import INPUT_FAULTS
from transforms.io.normalize import STAGE as NORMALIZE
from transforms.outputs.ledger_table import html_ledger

REPORT_DIR = "report"
INDEX = "index.html"
MAX_ROWS = 200_000
_COLUMNS = ("text", "lang", "quality_score", "perplexity", "signals", "dup_cluster_size")
_SCORE_COLUMNS = ("quality_score", "perplexity")


@dataclass(frozen=True)
class Figure:
    file: str
    title: str
    caption: str
    png: bytes


def read_columns(root: str, shard_paths: list[str], max_rows: int = MAX_ROWS,
                 wanted: tuple[str, ...] = _COLUMNS, scored_only: bool = False) -> dict[str, list]:
    """The ``wanted`` columns of these shards, as Python lists (text as its length).

    ``scored_only``: only rows where some wanted column is set (most rejected rows
    were dropped before any score), so ``max_rows`` counts rows that are plotted.
    """
    out: dict[str, list] = {}
    taken = 0
    for rel in shard_paths:
        if taken >= max_rows:
            break
        with FileSystems.open(FileSystems.join(root, rel), mime_type="application/octet-stream") as fh:
            parquet = pq.ParquetFile(io.BytesIO(fh.read()))
        names = [c for c in wanted if c in parquet.schema_arrow.names]
        if not names:
            continue
        for batch in parquet.iter_batches(columns=names, batch_size=10_000):
            if scored_only:
                batch = batch.filter(_any_valid(batch))
            batch = batch.slice(0, max_rows - taken)
            taken += batch.num_rows
            for name in names:
                column = batch.column(name)
                if name == "text":
                    out.setdefault("text_chars", []).extend(pc.utf8_length(column).to_pylist())
                else:
                    out.setdefault(name, []).extend(column.to_pylist())
            if taken >= max_rows:
                break
    return out


def _any_valid(batch):
    mask = pc.is_valid(batch.column(0))
    for i in range(1, batch.num_columns):
        mask = pc.or_(mask, pc.is_valid(batch.column(i)))
    return mask


def _present(values: list | None) -> list:
    return [v for v in values or [] if v is not None]


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buffer.getvalue()


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def ledger_figure(ledger: list[dict]) -> Figure | None:
    """Left: in vs kept per stage. Right: the rejections, stacked by reason (visible even when few)."""
    if not ledger:
        return None
    plt = _plt()
    stages = [e["stage"] for e in ledger]
    y = np.arange(len(stages))
    reasons: dict[str, list[int]] = {}
    for i, entry in enumerate(ledger):
        for kind, table in (("dropped", entry.get("reasons", {})), ("quarantined", entry.get("errors", {}))):
            for reason, count in table.items():
                reasons.setdefault(f"{kind}: {reason}", [0] * len(ledger))[i] += count
    fig, (left_ax, right_ax) = plt.subplots(
        1, 2, figsize=(11, 0.5 * len(stages) + 3), sharey=True, gridspec_kw={"width_ratios": [1, 1.4]}
    )
    left_ax.barh(y - 0.2, [e["in"] for e in ledger], height=0.4, label="in", color="#9db4d0")
    left_ax.barh(y + 0.2, [e["kept"] for e in ledger], height=0.4, label="kept", color="#3b6ea8")
    left_ax.set_yticks(y, stages)
    left_ax.invert_yaxis()
    left_ax.set_xlabel("documents")
    left_ax.set_title("In and kept")
    left_ax.legend(fontsize=8)
    cmap = plt.get_cmap("tab20")
    start = np.zeros(len(stages))
    for j, (label, counts) in enumerate(sorted(reasons.items())):
        right_ax.barh(y, counts, left=start, label=label, color=cmap(j % 20),
                      hatch="//" if label.startswith("quarantined") else None)
        start += np.array(counts)
    right_ax.set_xlabel("documents")
    right_ax.set_title("Rejected, by reason")
    if reasons:
        right_ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    fig.suptitle("Per-stage ledger")
    return Figure("ledger.png", "Per-stage ledger",
                  "Each stage's input and kept count; what it rejected, by reason (hatched: quarantined).",
                  _png(fig))


_KEPT_COLOR, _REJECTED_COLOR = "#3b6ea8", "#e0a458"


def _stacked_hist(ax, kept, rejected, bins) -> None:
    """Kept values, with rejected ones stacked on top (labelled) when there are any."""
    if len(rejected):
        ax.hist([kept, rejected], bins=bins, stacked=True, color=[_KEPT_COLOR, _REJECTED_COLOR],
                label=[f"kept ({len(kept):,})", f"rejected ({len(rejected):,})"])
    else:
        ax.hist(kept, bins=bins, color=_KEPT_COLOR)


def _plain_log_ticks(ax) -> None:
    """Log-axis labels as plain numbers (20, 50, 100), minor ones at 2× and 5× only: matplotlib's
    defaults write 3×10^1, 4×10^1, … side by side when the data spans less than a decade."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _histogram(values, title, xlabel, file, caption, log_x=False, lines=(), rejected=()) -> Figure:
    plt = _plt()
    data = np.asarray(values, dtype=float)
    dropped = np.asarray(rejected, dtype=float)
    both = np.concatenate([data, dropped])
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if log_x and both.min() > 0:
        bins = np.logspace(np.log10(both.min()), np.log10(both.max() * 1.0001), 40)
        ax.set_xscale("log")
        _plain_log_ticks(ax)
    else:
        bins = np.histogram_bin_edges(both, bins=40)
    _stacked_hist(ax, data, dropped, bins)
    for value, label in lines:
        ax.axvline(value, color="#c0392b", linestyle="--", label=label)
    if lines or len(dropped):
        ax.legend(fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("documents")
    ax.set_title(f"{title} (n={len(both):,})")
    return Figure(file, title, caption, _png(fig))


def text_length_figure(columns: dict) -> Figure | None:
    lengths = _present(columns.get("text_chars"))
    if not lengths:
        return None
    return _histogram(lengths, "Text length", "characters (log scale)", "text_length.png",
                      "Characters per kept document.", log_x=True)


def language_figure(columns: dict) -> Figure | None:
    langs = _present(columns.get("lang"))
    if not langs:
        return None
    plt = _plt()
    names, counts = np.unique(np.asarray(langs), return_counts=True)
    order = np.argsort(-counts)[:25]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(order) + 1.5))
    ax.barh(names[order], counts[order], color="#3b6ea8")
    ax.invert_yaxis()
    ax.set_xlabel("documents")
    ax.set_title(f"Languages (n={len(langs):,}, top {len(order)})")
    return Figure("languages.png", "Language distribution", "Kept documents per identified language.", _png(fig))


def _natural(name: str) -> list:
    """Sort key that puts dup_5_… before dup_10_…."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def quality_figure(columns: dict, cuts: list[tuple[float, str]], rejected: dict | None = None) -> Figure | None:
    """quality_score (kept, and rejected after scoring, stacked) and every numeric signal of kept rows."""
    series: dict[str, list[float]] = {}
    rejected_scores = _present((rejected or {}).get("quality_score"))
    scores = _present(columns.get("quality_score"))
    if scores or rejected_scores:
        series["quality_score"] = scores
    for pairs in columns.get("signals") or []:
        for pair in pairs or []:
            if pair.get("value") is not None:
                series.setdefault(pair["name"], []).append(pair["value"])
    if not series:
        return None
    plt = _plt()
    names = sorted(series, key=lambda n: (n != "quality_score", _natural(n)))[:24]
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        if name == "quality_score":
            _stacked_hist(ax, series[name], rejected_scores,
                          np.histogram_bin_edges(series[name] + rejected_scores, bins=30))
            for value, label in cuts:
                ax.axvline(value, color="#c0392b", linestyle="--", label=label)
            if rejected_scores:
                ax.legend(fontsize=6)
        else:
            ax.hist(series[name], bins=30, color=_KEPT_COLOR)
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle("Quality signals")
    fig.tight_layout()
    return Figure("quality_signals.png", "Quality-signal distributions",
                  "quality_score of kept documents and of those rejected after scoring (with the cut, when "
                  "one was computed), and the filters' signals of kept documents.", _png(fig))


def cluster_figure(stage_stats: dict, columns: dict) -> Figure | None:
    """Near-duplicate cluster sizes: the dedup stage's histogram, else the kept rows' sizes."""
    histograms = {s: v["cluster_size_histogram"] for s, v in stage_stats.items()
                  if isinstance(v.get("cluster_size_histogram"), dict) and v["cluster_size_histogram"]}
    sizes = [s for s in _present(columns.get("dup_cluster_size")) if s > 1]
    if not histograms and not sizes:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if histograms:
        width = 0.8 / len(histograms)
        for k, (stage, hist) in enumerate(sorted(histograms.items())):
            x = np.arange(len(hist)) + k * width
            ax.bar(x, list(hist.values()), width=width, label=stage)
            ax.set_xticks(np.arange(len(hist)), list(hist.keys()))
        ax.legend(fontsize=8)
    else:
        values, counts = np.unique(np.asarray(sizes), return_counts=True)
        ax.bar([str(v) for v in values], counts, color="#3b6ea8")
    ax.set_xlabel("cluster size (documents)")
    ax.set_ylabel("clusters")
    ax.set_title("Near-duplicate cluster sizes")
    return Figure("dedup_clusters.png", "Dedup cluster sizes",
                  "How many documents each near-duplicate cluster held before one was kept.", _png(fig))


def perplexity_figure(columns: dict, stage_stats: dict, rejected: dict | None = None) -> Figure | None:
    """Perplexity of kept documents and of those rejected after scoring (stacked), with the band."""
    values = _present(columns.get("perplexity"))
    dropped = _present((rejected or {}).get("perplexity"))
    if not values and not dropped:
        return None
    lines = []
    for stats in stage_stats.values():
        band = stats.get("perplexity_band")
        if isinstance(band, list) and len(band) == 2:
            lines += [(band[0], "band low"), (band[1], "band high")]
    return _histogram(values, "Perplexity", "perplexity (log scale)", "perplexity.png",
                      "Perplexity under the scoring model of every scored document: kept, and rejected "
                      "(by the band or a later stage), stacked.", log_x=True, lines=lines, rejected=dropped)


def icp_figure(stage_stats: dict) -> Figure | None:
    for stage, stats in sorted(stage_stats.items()):
        sims = stats.get("adjacent_similarity")
        if isinstance(sims, list) and sims:
            return _histogram(sims, "ICP adjacency similarity", "cosine similarity", "icp_similarity.png",
                              f"Similarity of consecutive documents in the {stage} order.")
        if isinstance(sims, dict) and sims.get("counts"):
            plt = _plt()
            fig, ax = plt.subplots(figsize=(7, 3.5))
            edges = np.asarray(sims["bins"], dtype=float)
            ax.stairs(sims["counts"], edges, fill=True, color="#3b6ea8")
            ax.set_xlabel("cosine similarity")
            ax.set_ylabel("adjacent pairs")
            ax.set_title("ICP adjacency similarity")
            return Figure("icp_similarity.png", "ICP adjacency similarity",
                          f"Similarity of consecutive documents in the {stage} order.", _png(fig))
        if isinstance(stats.get("mean_adjacent_cosine"), (int, float)):
            return _icp_means_figure(stage, stats)
    return None


def _icp_means_figure(stage: str, stats: dict) -> Figure:
    """``icp_order``'s summary: mean cosine of adjacent documents, in its order and in a random one."""
    plt = _plt()
    bars = {"ICP order": stats["mean_adjacent_cosine"]}
    if isinstance(stats.get("random_order_cosine"), (int, float)):
        bars["random order"] = stats["random_order_cosine"]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(list(bars), list(bars.values()), color=["#3b6ea8", "#9db4d0"][: len(bars)])
    for x, value in enumerate(bars.values()):
        ax.text(x, value, f"{value:.3f}", ha="center", va="bottom")
    ax.set_ylabel("mean cosine similarity")
    ax.set_title("ICP adjacency similarity")
    return Figure("icp_similarity.png", "ICP adjacency similarity",
                  f"Mean embedding cosine of consecutive documents in the {stage} order vs a random order.",
                  _png(fig))


def cluster_map_figure(stage_stats: dict) -> Figure | None:
    """``cluster_select``'s centroids on their first two principal components, sized by cluster, excluded ones hatched."""
    stage = next((s for s in sorted(stage_stats) if stage_stats[s].get("centroid_map")), None)
    if stage is None:
        return None
    stats = stage_stats[stage]
    points = np.array(stats["centroid_map"], dtype=float)
    entries = stats["catalogue"]
    docs = np.array([e["docs"] for e in entries], dtype=float)
    area = 20 + 800 * docs / max(1.0, docs.max())
    excluded = np.array([bool(e["excluded"]) for e in entries])
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(points[~excluded, 0], points[~excluded, 1], s=area[~excluded], color=_KEPT_COLOR, alpha=0.6,
               label="kept clusters")
    if excluded.any():
        ax.scatter(points[excluded, 0], points[excluded, 1], s=area[excluded], color=_REJECTED_COLOR, alpha=0.6,
                   hatch="//", label="excluded")
    if len(entries) <= 60:
        for e, (x, y) in zip(entries, points):
            ax.annotate(str(e["cluster"]), (x, y), fontsize=7, ha="center", va="center")
    ax.set_xlabel("first principal component of the centroids")
    ax.set_ylabel("second principal component")
    ax.legend(fontsize=8, markerscale=0.4)
    return Figure("cluster_map.png", "Cluster map",
                  f"{stage}: the {len(entries)} k-means centroids in 2-D, area by documents; "
                  f"`corpusmill clusters OUT` lists what each holds.", _png(fig))


def packing_figure(section: dict | None) -> Figure | None:
    """Tokens per Dataset Decomposition bucket (or in packed/), with the tokens dropped beside them."""
    if not section:
        return None
    plt = _plt()
    if section["mode"] == "decompose":
        labels = [f"{b['seq_len']:,}" for b in section["buckets"]]
        values = [b["tokens"] for b in section["buckets"]]
        xlabel = "bucket (sequence length, tokens)"
    else:
        labels, values, xlabel = [f"{section['seq_len']:,}"], [section["tokens_packed"]], "packed (sequence length)"
    fig, ax = plt.subplots(figsize=(8, 3.5))
    x = np.arange(len(labels) + 1)
    ax.bar(x[:-1], values, color=_KEPT_COLOR, label="packed")
    ax.bar(x[-1:], [section["tokens_dropped"]], color=_REJECTED_COLOR, label="dropped")
    ax.set_xticks(x, labels + ["dropped"])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("tokens")
    ax.legend(fontsize=8)
    return Figure("packing_tokens.png", "Tokens per bucket",
                  f"{section['tokens']:,} tokens of {section['documents']:,} documents ({section['mode']}): "
                  f"tokens in each sequence length, and the remainders dropped.", _png(fig))


def quality_cuts(stage_stats: dict) -> list[tuple[float, str]]:
    cuts = []
    for stage, stats in sorted(stage_stats.items()):
        for name in ("score_cut", "threshold"):
            if isinstance(stats.get(name), (int, float)) and "model_sha256" in stats:
                cuts.append((float(stats[name]), f"{stage} {name}"))
    return cuts


def build_figures(manifest: dict, columns: dict, rejected: dict | None = None) -> list[Figure]:
    """``columns``: of kept rows; ``rejected``: score columns of rejected rows (None where not read)."""
    stats = manifest.get("stage_stats", {})
    candidates = [
        ledger_figure(manifest.get("ledger", [])),
        text_length_figure(columns),
        language_figure(columns),
        quality_figure(columns, quality_cuts(stats), rejected),
        cluster_figure(stats, columns),
        perplexity_figure(columns, stats, rejected),
        icp_figure(stats),
        cluster_map_figure(stats),
        packing_figure(manifest.get("packing")),
    ]
    return [f for f in candidates if f is not None]


def _input_faults_html(stage_stats: dict) -> str:
    """Input files cut short or holding bad data (``normalize``'s ``input_faults``); empty when none."""
    faults = stage_stats.get(NORMALIZE, {}).get(INPUT_FAULTS, [])
    if not faults:
        return ""
    rows = "\n".join(
        f"<tr><td>{html.escape(f['file'])}</td><td>{html.escape(f['reason'])}</td><td>{f['bytes_read']:,}</td>"
        f"<td>{'' if f['file_bytes'] is None else format(f['file_bytes'], ',')}</td><td>{f['records_read']:,}</td>"
        f"<td>{html.escape(f['detail'])}</td></tr>"
        for f in faults
    )
    return f"""<h2>Input faults</h2>
<p>Input files that were cut short (<code>truncated_input</code>) or hold bad data (<code>corrupt_input</code>).
The records read before the fault went on through the pipeline; each file is one quarantined row in rejected/.</p>
<table><tr><th>file</th><th>reason</th><th>bytes read</th><th>file bytes</th><th>records read</th><th>detail</th></tr>
{rows}
</table>"""


def render_html(manifest: dict, figures: list[Figure], sampled_rows: int) -> str:
    totals = manifest.get("totals", {})
    figure_html = "\n".join(
        f'<figure><a href="{f.file}"><img src="{f.file}" alt="{html.escape(f.title)}"></a>'
        f"<figcaption><b>{html.escape(f.title)}.</b> {html.escape(f.caption)}</figcaption></figure>"
        for f in figures
    )
    status = html.escape(str(manifest.get("status", "")))
    problems = "".join(f"<li>{html.escape(p)}</li>" for p in manifest.get("ledger_problems", []))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>corpusmill run report</title>
<style>
body {{ font-family: sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
td:first-child, td:last-child {{ text-align: left; }}
figure {{ margin: 1.5em 0; }} img {{ max-width: 100%; border: 1px solid #eee; }}
</style></head>
<body>
<h1>corpusmill run report</h1>
<p>Status: <b>{status}</b>. Schema v{html.escape(str(manifest.get('schema_version', '')))};
started {html.escape(str(manifest.get('timings', {}).get('started', '')))};
runner {html.escape(str(manifest.get('runner', '')))}.
Files: <a href="../manifest.json">manifest.json</a>, <a href="../README.md">dataset card</a>.</p>
<ul>{problems}</ul>
<table><tr><th>input records</th><th>kept rows</th><th>rejected rows</th><th>data bytes</th></tr>
<tr><td>{totals.get('input_records', 0):,}</td><td>{totals.get('kept_rows', 0):,}</td>
<td>{totals.get('rejected_rows', 0):,}</td><td>{totals.get('data_bytes', 0):,}</td></tr></table>
<h2>Ledger</h2>
{html_ledger(manifest.get('ledger', []))}
{_input_faults_html(manifest.get('stage_stats', {}))}
{contamination_html(manifest)}
<h2>Plots</h2>
<p>Distributions over {sampled_rows:,} kept rows; the score plots also show the rejected rows that were scored.</p>
{figure_html}
</body></html>
"""


def write_report(root: str, manifest: dict, max_rows: int = MAX_ROWS) -> list[str]:
    """Write ``ROOT/report/index.html`` and its PNGs; return the written paths."""
    columns = read_columns(root, [s["path"] for s in manifest.get("shards", [])], max_rows)
    rejected = read_columns(root, [s["path"] for s in manifest.get("rejected", [])], max_rows, _SCORE_COLUMNS,
                            scored_only=True)
    figures = build_figures(manifest, columns, rejected)
    directory = FileSystems.join(root, REPORT_DIR)
    if FileSystems.exists(directory):
        FileSystems.delete([directory])
    FileSystems.mkdirs(directory)
    written = []
    sampled = len(next(iter(columns.values()), []))
    for name, payload, mime in [(f.file, f.png, "image/png") for f in figures] + [
        (INDEX, render_html(manifest, figures, sampled).encode("utf-8"), "text/html")
    ]:
        path = FileSystems.join(directory, name)
        with FileSystems.create(path, mime_type=mime) as fh:
            fh.write(payload)
        written.append(path)
    return written
