"""Embed review text with Spark NLP.

    spark-submit --jars <staged jars> spark_jobs/embed_reviews.py \
        --lake-dir var/lake --encoder-dir var/models/all-MiniLM-L6-v2 --batch-id <run id>

Argument parsing and wiring only: the work is usersegments.embedding.embed_reviews.
Master, jars and resources come from spark-submit; nothing here is machine-specific.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from usersegments.lake import Lake


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from usersegments.embedding import BATCH_SIZE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake-dir", required=True, help="lake root (clean/ in, embeddings/ out)")
    parser.add_argument("--encoder-dir", required=True, help="built by `make encoder`")
    parser.add_argument("--batch-id", required=True, help="this run's id (a partition)")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="texts per ONNX call")
    parser.add_argument("--partitions", type=int, default=0, help="0: one per core")
    parser.add_argument("--limit", type=int, default=0, help="embed at most this many (0: all)")
    parser.add_argument("--report", help="also write the JSON report to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    from usersegments.embedding import embed_reviews
    from usersegments.spark import run_job

    args = parse_args(argv)
    lake = Lake(Path(args.lake_dir))
    return run_job(
        "embed_reviews",
        lake.spark_checkpoints,
        lambda spark: embed_reviews(
            spark,
            lake,
            Path(args.encoder_dir),
            args.batch_id,
            args.batch_size,
            args.partitions,
            args.limit,
        ),
        args.report,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
