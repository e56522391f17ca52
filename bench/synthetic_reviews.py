"""SYNTHETIC review files made from the real ones, for scale benchmarks: x N of the data.

Every user of the real files is cloned N times under new ids (``SYN<clone>-<real id>``);
each clone keeps a random subset of the user's reviews (each with probability
``keep_share``, at least one), its review times shifted by one random offset of up to
``max_shift_days`` either way, and a share of its ratings moved one star up or down.
Items and texts are the real ones, so item popularity keeps its heavy tail (x N) and
the encoder sees real language. Reviewer names are left out (no personal data is
copied). The files have the real names and formats (2014 or 2018 schema, gzip JSON
lines), so ingest, the seed's categories and dbt treat them as real files.

The output folder is labelled: it holds ``SYNTHETIC.md`` saying what made it, and the
generator refuses to write into the real source folder or into a folder that is not
its own. Seeded: the same seed, scale and inputs give the same bytes. Cost: O(N x
lines), streamed per clone; only the real lines are held in memory.

Usage: python bench/synthetic_reviews.py --scale 10 --out var/synthetic/x10 [--seed 7]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

MARKER = "SYNTHETIC.md"
DAY = 86_400


@dataclass(frozen=True)
class CloneSpec:
    scale: int
    seed: int = 7
    keep_share: float = 0.9
    max_shift_days: int = 180
    rating_jitter_share: float = 0.1


class NotSynthetic(ValueError):
    """The output folder is the real data or holds files this generator did not write."""


def read_reviews(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def user_lines(reviews: list[dict]) -> dict[str, list[int]]:
    """Each real user's line positions, in file order."""
    lines: dict[str, list[int]] = defaultdict(list)
    for position, review in enumerate(reviews):
        lines[review["reviewerID"]].append(position)
    return lines


def kept_lines(positions: list[int], rng: np.random.Generator, keep_share: float) -> list[int]:
    """A random subset of a user's lines, never empty."""
    keep = rng.random(len(positions)) < keep_share
    if not keep.any():
        keep[rng.integers(len(positions))] = True
    return [p for p, k in zip(positions, keep, strict=True) if k]


def clone_review(review: dict, clone_id: str, shift_seconds: int, rating_step: int) -> dict:
    cloned = {key: value for key, value in review.items() if key != "reviewerName"}
    cloned["reviewerID"] = clone_id
    if isinstance(review.get("unixReviewTime"), int):
        moved = review["unixReviewTime"] + shift_seconds
        cloned["unixReviewTime"] = moved
        cloned["reviewTime"] = datetime.fromtimestamp(moved, UTC).strftime("%m %d, %Y")
    if isinstance(review.get("overall"), (int, float)) and rating_step:
        cloned["overall"] = float(min(5, max(1, review["overall"] + rating_step)))
    return cloned


def clone_file(reviews: list[dict], clone: int, spec: CloneSpec, file_index: int) -> list[dict]:
    """One clone of every user of one file, in the file's line order."""
    rng = np.random.default_rng([spec.seed, file_index, clone])
    out: list[tuple[int, dict]] = []
    for real_id, positions in sorted(user_lines(reviews).items()):
        shift = int(rng.integers(-spec.max_shift_days, spec.max_shift_days + 1)) * DAY
        for position in kept_lines(positions, rng, spec.keep_share):
            step = int(rng.choice([-1, 1])) if rng.random() < spec.rating_jitter_share else 0
            out.append(
                (position, clone_review(reviews[position], f"SYN{clone}-{real_id}", shift, step))
            )
    return [review for _, review in sorted(out, key=lambda pair: pair[0])]


def check_output_folder(out_dir: Path, source_dir: Path) -> None:
    out, source = out_dir.resolve(), source_dir.resolve()
    if out == source or source in out.parents:
        raise NotSynthetic(f"{out_dir}: inside the real source folder {source_dir}; refused")
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise NotSynthetic(f"{out_dir}: not empty and has no {MARKER}: not a synthetic folder")


def generate(source_dir: Path, out_dir: Path, spec: CloneSpec) -> dict[str, int]:
    """Write x ``spec.scale`` of every review file of ``source_dir``; lines per file."""
    check_output_folder(out_dir, source_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = sorted(source_dir.glob("*.json.gz"))
    (out_dir / MARKER).write_text(
        "# SYNTHETIC review data\n\n"
        f"Made by bench/synthetic_reviews.py from {len(sources)} real files: scale "
        f"{spec.scale}, seed {spec.seed}, keep share {spec.keep_share}, time shift up to "
        f"{spec.max_shift_days} days, rating jitter share {spec.rating_jitter_share}.\n"
        "Every reviewer is a clone (SYN<clone>-<real id>) of a real one; items and texts "
        "are real. Not real reviews: never mix these files with the real data.\n"
    )
    written = {}
    for file_index, path in enumerate(sources):
        reviews = read_reviews(path)
        lines = 0
        # gzip without a timestamp in its header: the same inputs give the same bytes
        with gzip.GzipFile(out_dir / path.name, "wb", mtime=0) as handle:
            for clone in range(spec.scale):
                for review in clone_file(reviews, clone, spec, file_index):
                    handle.write(json.dumps(review).encode() + b"\n")
                    lines += 1
        written[path.name] = lines
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, required=True, help="clones of every user")
    parser.add_argument("--out", type=Path, required=True, help="the synthetic folder")
    parser.add_argument("--seed", type=int, default=CloneSpec.seed)
    parser.add_argument("--source-dir", type=Path, help="default: the settings' source folder")
    args = parser.parse_args(argv)
    if args.source_dir is None:
        from usersegments.config import Settings

        args.source_dir = Settings.from_env().source_dir
    written = generate(args.source_dir, args.out, CloneSpec(args.scale, args.seed))
    for name, lines in written.items():
        print(f"SYNTHETIC {name:<40} {lines:>10,} lines")
    print(f"SYNTHETIC total {sum(written.values()):,} lines (x{args.scale}) in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
