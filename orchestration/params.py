"""The pipeline DAG's trigger form: its Params, grouped by section.

Enum values and defaults come from the code that uses them (the segmentation's
options, the recommender's config, the promotion gate's policy), so the form cannot
drift from what the tasks do.
"""

from __future__ import annotations

from airflow.sdk import Param

from ml.config import GatePolicy, RecommenderConfig
from usersegments.ingest import IngestPolicy
from usersegments.quality import DriftLimits
from usersegments.segmentation.options import ALGORITHMS, DEFAULT_WEIGHTS, SegmentationOptions
from usersegments.segmentation.refit import RefitPolicy

SEGMENTATION = SegmentationOptions()
INGEST = IngestPolicy()
RECOMMENDER = RecommenderConfig()
GATE = GatePolicy()
DRIFT = DriftLimits()
REFIT = RefitPolicy()

INPUTS = "Inputs"
SEGMENTATION_SECTION = "Segmentation"
RECOMMENDATIONS = "Recommendations"
PROMOTION = "Promotion gate"

PIPELINE_PARAMS = {
    "source_files": Param(
        [],
        type="array",
        items={"type": "string"},
        title="Source files",
        description=(
            "File names in the source folder to ingest (or ingest again); empty for all "
            "of them. Files ingested by earlier runs stay in the input."
        ),
        section=INPUTS,
    ),
    "retire_files": Param(
        [],
        type="array",
        items={"type": "string"},
        title="Files to retire",
        description=(
            "File names to remove from the lake before this run: a run reads every file "
            "ingested so far, until one is retired. With no source files named, such a "
            "run ingests none."
        ),
        section=INPUTS,
    ),
    "max_quarantined_share": Param(
        INGEST.max_quarantined_share,
        type="number",
        minimum=0,
        maximum=1,
        title="Largest share of bad lines",
        description="A file with more of its lines quarantined is refused whole, naming it.",
        section=INPUTS,
    ),
    "strict_expectations": Param(
        False,
        type="boolean",
        title="Strict expectations",
        description="Stop the run on soft (warning) expectation failures too.",
        section=INPUTS,
    ),
    "segmentation_algorithm": Param(
        SEGMENTATION.algorithm,
        type="string",
        enum=list(ALGORITHMS),
        title="Segmentation algorithm",
        description="Spark MLlib clustering of the fused user features.",
        section=SEGMENTATION_SECTION,
    ),
    "segment_count": Param(
        None,
        type=["null", "integer"],
        minimum=2,
        title="Number of segments",
        description=(
            f"Force k; leave empty to choose it by silhouette over "
            f"k = {SEGMENTATION.k_min}..{SEGMENTATION.k_max}."
        ),
        section=SEGMENTATION_SECTION,
    ),
    "min_segment_share": Param(
        SEGMENTATION.min_segment_share,
        type="number",
        minimum=0,
        maximum=0.5,
        title="Smallest segment (share of users)",
        description="k with a smaller segment is not chosen; a run with one fails its expectations.",
        section=SEGMENTATION_SECTION,
    ),
    "max_moved_share": Param(
        DRIFT.max_moved_share,
        type="number",
        minimum=0,
        maximum=1,
        title="Largest drift (share of users moved)",
        description=(
            "Of the users in both this run and the previous one, the largest share that "
            "may change segment before the segments checkpoint warns (a strict run stops)."
        ),
        section=SEGMENTATION_SECTION,
    ),
    "refit_every_intervals": Param(
        REFIT.every,
        type="integer",
        minimum=1,
        title="Refit every (intervals)",
        description=(
            "A scheduled or backfilled run places its users with the current segments' "
            "saved features and centroids, and refits at least every this many intervals "
            "(or sooner: drift past the largest drift above, a segment below the smallest "
            "size, a new category, changed settings). A manual run always refits."
        ),
        section=SEGMENTATION_SECTION,
    ),
    "force_refit": Param(
        False,
        type="boolean",
        title="Force a refit",
        description="Refit the segments in this run whatever the policy says.",
        section=SEGMENTATION_SECTION,
    ),
    "feature_weights": Param(
        dict(DEFAULT_WEIGHTS),
        type="object",
        title="Feature group weights",
        description="Weight of each feature group in the fused features (0 leaves it out).",
        section=SEGMENTATION_SECTION,
    ),
    "recommendation_count": Param(
        RECOMMENDER.top_n,
        type="integer",
        minimum=1,
        maximum=100,
        title="Recommendations per user",
        description="Length of each user's top-N list; the offline metrics are @N.",
        section=RECOMMENDATIONS,
    ),
    "recency_half_life_days": Param(
        RECOMMENDER.half_life_days,
        type="number",
        exclusiveMinimum=0,
        title="Recency half-life (days)",
        description="A review's weight in its segment's item ranking halves every this many days.",
        section=RECOMMENDATIONS,
    ),
    "offline_evaluation": Param(
        True,
        type="boolean",
        title="Evaluate the recommenders",
        description=(
            "The evaluation refit, the baselines' searches, the held-out and prospective "
            "scores of every recommender. Off: the run publishes its lists only, and the "
            "evaluation tables get no rows for it."
        ),
        section=RECOMMENDATIONS,
    ),
    "promotion_margin": Param(
        GATE.margin,
        type="number",
        minimum=0,
        maximum=1,
        title="Promotion margin (macro F1)",
        description=(
            "The challenger becomes champion only if its held-out macro F1 beats the "
            "champion's by this much."
        ),
        section=PROMOTION,
    ),
    "class_f1_floor": Param(
        GATE.class_f1_floor,
        type="number",
        minimum=0,
        maximum=1,
        title="Per-class F1 floor",
        description="No challenger with a class below this held-out F1 becomes champion.",
        section=PROMOTION,
    ),
}
