"""Refit a published segmentation on the recommender evaluation's training reviews.

    spark-submit spark_jobs/segment_evaluation_users.py --lake-dir var/lake \
        --encoder-dir var/models/all-MiniLM-L6-v2 --run-id <published run id>

Behaviour features from lake/clean/evaluation_users.parquet, text vectors and the
co-review graph from the 'train' reviews of lake/clean/evaluation_reviews.parquet
only, so no held-out review shapes anyone's segment; the published run's algorithm, k,
weights and seed; clusters matched to its segment ids. Writes
lake/segments_eval/{assignments,runs}/run_id=<run id>/. Argument parsing and wiring
only: the work is usersegments.segmentation.run.refit_for_evaluation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from usersegments.encoder import read_manifest
from usersegments.lake import Lake


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake-dir", required=True, help="clean/, embeddings/, segments/ in")
    parser.add_argument("--encoder-dir", required=True, help="whose review embeddings to use")
    parser.add_argument("--run-id", required=True, help="the published segmentation run")
    parser.add_argument(
        "--partitions", type=int, default=0, help="of the user features; 0: by their number"
    )
    parser.add_argument("--report", help="also write the JSON report to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    from usersegments.segmentation.options import SegmentationOptions
    from usersegments.segmentation.run import refit_for_evaluation
    from usersegments.spark import run_job

    args = parse_args(argv)
    lake = Lake(Path(args.lake_dir))
    version = read_manifest(Path(args.encoder_dir))["model_version"]
    return run_job(
        "segment_evaluation_users",
        lake.spark_checkpoints,
        lambda spark: refit_for_evaluation(
            spark, lake, args.run_id, version, SegmentationOptions(partitions=args.partitions)
        ),
        args.report,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
