"""Beam's SDK worker for FnApiRunner's ``multi_processing`` mode, with a quiet stderr.

Beam's worker (``apache_beam.runners.worker.sdk_worker_main``) imports Beam
before configuring logging, and Beam logs a warning on the root logger while
importing (``apitools not found``), so ``logging`` installs a stderr handler
in every worker and all of its INFO lines land on the user's console. A
handler on root before that import prevents it. The worker still sends every
log record to the runner (Beam's log handler), where the CLI's levels apply:
``--debug`` shows them. It also applies the local runs' malloc settings
(``pipelines.malloc_tuning``).
"""
import logging
import sys

logging.getLogger().addHandler(logging.NullHandler())

from apache_beam.runners.worker import sdk_worker_main  # noqa: E402  (after the handler, on purpose)

from pipelines.cli import quiet_loguru  # noqa: E402
from pipelines.malloc_tuning import tune_malloc  # noqa: E402

quiet_loguru()  # datatrove's INFO lines (loguru prints them to this worker's stderr)

if __name__ == "__main__":
    tune_malloc()
    sdk_worker_main.main(sys.argv)
