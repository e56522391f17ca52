"""Embedding throughput on the same real reviews, same machine, one run:

- Spark NLP: spark_jobs/embed_reviews.py through spark-submit (local[2]);
- sentence-transformers: SentenceTransformer.encode() of the same model (PyTorch);
- plain ONNX Runtime: the same ONNX graph Spark NLP imported, with the model's tokenizer
  (the named baseline of the target: Spark NLP >= 0.8x ONNX Runtime).

Prints reviews/s and tokens/s of each and the ratios. Spark NLP's rate counts the
embedding stage only (transform + write); JVM and session start are printed apart.
Usage: python bench/embedding_throughput.py [--reviews 5000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from usersegments.config import Settings
from usersegments.embedding import BATCH_SIZE
from usersegments.encoder import MAX_TOKENS, encoder_dir, encoder_info, weights_dir
from usersegments.lake import Lake
from usersegments.spark import SPARK_JOBS_DIR, spark_env, submit_command


def real_reviews(source_dir: Path, count: int) -> list[tuple[str, str]]:
    """(key, "summary. text") of the first distinct real reviews across the files."""
    seen, reviews = set(), []
    for path in sorted(source_dir.glob("*.json.gz")):
        with gzip.open(path, "rt") as handle:
            for line in handle:
                record = json.loads(line)
                text = ". ".join(p for p in (record.get("summary"), record.get("reviewText")) if p)
                key = (record["reviewerID"], text, record["unixReviewTime"])
                if text and key not in seen:
                    seen.add(key)
                    reviews.append((f"r{len(reviews):06d}", text))
                if len(reviews) == count:
                    return reviews
    return reviews


def token_count(tokenizer, texts: list[str]) -> int:
    encoded = tokenizer(texts, truncation=True, max_length=MAX_TOKENS)
    return sum(len(ids) for ids in encoded["input_ids"])


def bench_sentence_transformers(texts: list[str]) -> float:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(weights_dir()), device="cpu")
    model.encode(texts[:64], batch_size=BATCH_SIZE)  # warm-up
    started = time.perf_counter()
    model.encode(texts, batch_size=BATCH_SIZE, normalize_embeddings=True)
    return time.perf_counter() - started


def bench_onnxruntime(texts: list[str], onnx_path: Path, tokenizer) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    # sorted by length, as the Spark job batches them, so neither pays for padding
    ordered = sorted(texts, key=len)
    started = time.perf_counter()
    for start in range(0, len(ordered), BATCH_SIZE):
        batch = tokenizer(
            ordered[start : start + BATCH_SIZE],
            padding=True,
            truncation=True,
            max_length=MAX_TOKENS,
            return_tensors="np",
        )
        session.run(
            None,
            {
                k: batch[k].astype(np.int64)
                for k in ("input_ids", "attention_mask", "token_type_ids")
            },
        )
    return time.perf_counter() - started


def bench_spark_nlp(reviews: list[tuple[str, str]], settings: Settings) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake(Path(tmp) / "lake")
        lake.clean_dir.mkdir(parents=True)
        table = pa.table(
            {
                "review_key": [k for k, _ in reviews],
                "user_key": [k for k, _ in reviews],
                "summary": [None] * len(reviews),
                "review_text": [t for _, t in reviews],
            }
        )
        pq.write_table(table, lake.clean("reviews"))
        report = Path(tmp) / "report.json"
        command = submit_command(
            SPARK_JOBS_DIR / "embed_reviews.py",
            [
                "--lake-dir",
                str(lake.root),
                "--encoder-dir",
                str(encoder_dir(settings)),
                "--batch-id",
                "bench",
                "--batch-size",
                str(BATCH_SIZE),
                "--report",
                str(report),
            ],
            settings,
        )
        started = time.perf_counter()
        run = subprocess.run(
            command, env={**os.environ, **spark_env()}, capture_output=True, text=True
        )
        if run.returncode:
            sys.exit(f"spark-submit failed:\n{run.stderr[-5000:]}")
        wall = time.perf_counter() - started
        result = json.loads(report.read_text())
    result["wall_seconds"] = wall
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=5000)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    info = encoder_info(settings)

    reviews = real_reviews(settings.source_dir, args.reviews)
    texts = [t for _, t in reviews]
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(weights_dir()))
    tokens = token_count(tokenizer, texts)
    print(
        f"{len(texts)} real reviews, {tokens} tokens (truncated at {MAX_TOKENS}), "
        f"{os.cpu_count()} cores, batch size {BATCH_SIZE}",
        flush=True,
    )

    spark = bench_spark_nlp(reviews, settings)
    assert spark["embedded"] == len(texts), spark
    seconds = {
        "onnxruntime (baseline)": bench_onnxruntime(
            texts, encoder_dir(settings) / info["onnx_path"], tokenizer
        ),
        "sentence-transformers": bench_sentence_transformers(texts),
        "spark-nlp job": spark["embed_seconds"],
    }
    baseline = seconds["onnxruntime (baseline)"]
    print(f"{'engine':<24}{'seconds':>9}{'reviews/s':>11}{'tokens/s':>11}{'x onnxruntime':>15}")
    for name, secs in seconds.items():
        print(
            f"{name:<24}{secs:>9.1f}{len(texts) / secs:>11.1f}{tokens / secs:>11.0f}{baseline / secs:>15.2f}"
        )
    print(
        f"spark-nlp job end to end (spark-submit, JVM and session start included): "
        f"{spark['wall_seconds']:.1f} s; start-up and bookkeeping "
        f"{spark['wall_seconds'] - spark['embed_seconds']:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
