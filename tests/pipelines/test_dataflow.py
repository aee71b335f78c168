"""Dataflow readiness: the full example config builds without touching models, and translates to a Dataflow job.

The translation uses DataflowRunner's ``--dry_run=True``: the job is translated
(transforms, environment, staged dependencies) and returned without being
submitted, with no network access. It needs ``apache-beam[gcp]``
(``pip install -e ".[dataflow]"``); without it that test is skipped, saying so.
"""
from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.build import build_pipeline
from pipelines.config import load_config
from pipelines.run import pipeline_options
from tests.support.corpora import REPO

EXAMPLE = REPO / "configs" / "dataflow.example.yaml"
STAGES = ["normalize", "exact_dedup", "minhash_dedup", "language_id", "heuristic_filters",
          "quality_classifier", "perplexity_filter", "prox", "icp_order"]


def _top_level_labels(proto) -> list[str]:
    root = proto.components.transforms[proto.root_transform_ids[0]]
    return [proto.components.transforms[t].unique_name for t in root.subtransforms]


def _dataflow_missing() -> str | None:
    try:
        import google.cloud.storage  # noqa: F401
        from apache_beam.runners.dataflow.internal import apiclient  # noqa: F401 - needs google-auth, apitools
    except ImportError as exc:
        return f"apache-beam[gcp] is not installed ({exc}); pip install -e '.[dataflow]' to translate to Dataflow"
    return None


def test_example_config_builds_without_opening_remote_models(tmp_path):
    """gs:// model paths and packaged default models are resolved on workers, not while the job is built.

    Without apache-beam[gcp] any gs:// access raises at once (with it, it would need
    credentials), so the build succeeding means no stage touched its model.
    """
    cfg = load_config(str(EXAMPLE), output_dir=str(tmp_path))
    assert [e.label for e in cfg.stage_entries()] == STAGES[1:]
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    build_pipeline(pipeline, cfg, cfg.output.dir)  # raises if any stage reads gs://BUCKET/... while building
    labels = _top_level_labels(pipeline.to_runner_api())
    assert set(STAGES) <= set(labels)


@pytest.mark.skipif(_dataflow_missing() is not None, reason=str(_dataflow_missing()))
def test_full_config_translates_to_a_dataflow_job():
    cfg = load_config(str(EXAMPLE))
    options = pipeline_options(cfg, [
        "--dry_run=True", "--project=valid-id", "--region=us-central1",
        "--temp_location=gs://bucket/tmp", "--staging_location=gs://bucket/staging",
        f"--setup_file={REPO / 'setup.py'}",
        "--sdk_container_image=us-central1-docker.pkg.dev/valid-id/corpusmill/worker-gpu:latest",
        "--dataflow_service_options=worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver",
    ])
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, cfg, cfg.output.dir)
    result = pipeline.run()
    proto = pipeline.runner.proto_pipeline
    labels = _top_level_labels(proto)
    print("\ntop-level transforms:", labels)
    assert set(STAGES) <= set(labels)
    assert {"WriteData", "WriteRejected", "WriteLedger", "WriteStats"} <= set(labels)
    names = [t.unique_name for t in proto.components.transforms.values()]
    assert any(n.startswith("minhash_dedup/") and "GroupByKey" in n for n in names)
    assert len(names) > 200
    environments = list(proto.components.environments.values())
    print("environments:", [(e.urn, len(e.dependencies)) for e in environments])
    assert {e.urn for e in environments} == {"beam:env:docker:v1"}
    from apache_beam.portability.api import beam_runner_api_pb2

    images = {beam_runner_api_pb2.DockerPayload.FromString(e.payload).container_image for e in environments}
    print("container images:", images)
    assert images == {"us-central1-docker.pkg.dev/valid-id/corpusmill/worker-gpu:latest"}
    staged = [beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(d.role_payload).staged_name
              for e in environments for d in e.dependencies]
    print("staged dependencies:", staged)
    assert "workflow.tar.gz" in staged  # the sdist built from setup.py
    job = result.job.proto
    from apache_beam.options.pipeline_options import GoogleCloudOptions

    cloud = options.view_as(GoogleCloudOptions)
    print("job:", job.name, job.type_.name, cloud.project, cloud.region, cloud.dataflow_service_options)
    assert job.name == "corpusmill-full" and job.type_.name == "JOB_TYPE_BATCH"
    assert cloud.dataflow_service_options == ["worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver"]
