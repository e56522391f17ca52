"""Segment the published users and explain the segments.

    spark-submit spark_jobs/segment_users.py --lake-dir var/lake \
        --encoder-dir var/models/all-MiniLM-L6-v2 --run-id <run id> [--k 6]

Argument parsing and wiring only: the work is usersegments.segmentation.run.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from usersegments.config import AS_OF_FORMAT
from usersegments.encoder import read_manifest
from usersegments.lake import Lake
from usersegments.segmentation.options import (
    ALGORITHMS,
    SegmentationOptions,
    parse_weights,
)
from usersegments.segmentation.refit import RefitPolicy

DEFAULTS = SegmentationOptions()
POLICY = RefitPolicy()


def parse_args(
    argv: list[str] | None,
) -> tuple[argparse.Namespace, SegmentationOptions, RefitPolicy]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake-dir", required=True, help="clean/, embeddings/ in; segments/ out")
    parser.add_argument("--encoder-dir", required=True, help="whose user embeddings to use")
    parser.add_argument("--run-id", required=True)
    parser.add_argument(
        "--as-of",
        default="",
        help="the run's as-of (UTC 'YYYY-MM-DD HH:MM:SS'), recorded on it; empty: none",
    )
    parser.add_argument("--algorithm", default=DEFAULTS.algorithm, choices=ALGORITHMS)
    parser.add_argument(
        "--k", type=int, default=0, help="force k (0: choose by macro-silhouette and stability)"
    )
    parser.add_argument("--k-min", type=int, default=DEFAULTS.k_min)
    parser.add_argument("--k-max", type=int, default=DEFAULTS.k_max)
    parser.add_argument("--min-segment-share", type=float, default=DEFAULTS.min_segment_share)
    parser.add_argument("--weights", default="", help='{"behaviour": 1, "text": 1, "graph": 1}')
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--max-iter", type=int, default=DEFAULTS.max_iter)
    parser.add_argument(
        "--restarts", type=int, default=DEFAULTS.restarts, help="seeded starts per fit"
    )
    parser.add_argument(
        "--subsamples",
        type=int,
        default=DEFAULTS.subsamples,
        help="seeded subsamples per k, for stability (0: none)",
    )
    parser.add_argument(
        "--stability-floor",
        type=float,
        default=DEFAULTS.stability_floor,
        help="segments whose bootstrap Jaccard is below it are flagged unstable",
    )
    parser.add_argument(
        "--cold", action="store_true", help="no warm start from the previous run's centroids"
    )
    parser.add_argument(
        "--refit-every",
        type=int,
        default=POLICY.every,
        help="a run with a data interval refits at least every this many intervals",
    )
    parser.add_argument(
        "--max-moved-share",
        type=float,
        default=POLICY.max_moved_share,
        help="placing that moves more of the shared users than this refits",
    )
    parser.add_argument(
        "--force-refit",
        default="false",
        choices=["true", "false", "True", "False"],
        help="refit whatever the policy says",
    )
    parser.add_argument("--pagerank-iterations", type=int, default=DEFAULTS.pagerank_iterations)
    parser.add_argument(
        "--partitions", type=int, default=0, help="of the user features; 0: by their number"
    )
    parser.add_argument("--mixture-components", type=int, default=DEFAULTS.mixture_components)
    parser.add_argument("--top-terms", type=int, default=DEFAULTS.top_terms)
    parser.add_argument("--examples", type=int, default=DEFAULTS.examples)
    parser.add_argument("--report", help="also write the JSON report to this file")
    args = parser.parse_args(argv)
    try:
        options = SegmentationOptions(
            algorithm=args.algorithm,
            k=args.k,
            k_min=args.k_min,
            k_max=args.k_max,
            min_segment_share=args.min_segment_share,
            weights=parse_weights(args.weights),
            seed=args.seed,
            max_iter=args.max_iter,
            restarts=args.restarts,
            subsamples=args.subsamples,
            stability_floor=args.stability_floor,
            warm_start=not args.cold,
            pagerank_iterations=args.pagerank_iterations,
            mixture_components=args.mixture_components,
            top_terms=args.top_terms,
            examples=args.examples,
            partitions=args.partitions,
        )
        policy = RefitPolicy(
            every=args.refit_every,
            max_moved_share=args.max_moved_share,
            force=args.force_refit.lower() == "true",
        )
    except ValueError as error:
        parser.error(str(error))
    return args, options, policy


def parse_as_of(value: str) -> datetime | None:
    return datetime.strptime(value, AS_OF_FORMAT) if value else None


def main(argv: list[str] | None = None) -> dict:
    from usersegments.segmentation.run import publish_segmentation
    from usersegments.spark import run_job

    args, options, policy = parse_args(argv)
    lake = Lake(Path(args.lake_dir))
    version = read_manifest(Path(args.encoder_dir))["model_version"]
    return run_job(
        "segment_users",
        lake.spark_checkpoints,
        lambda spark: publish_segmentation(
            spark, lake, args.run_id, version, options, parse_as_of(args.as_of), policy
        ),
        args.report,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
