"""The interest classifier's registry aliases: the promotion gate, manual promotion
and rollback, and the history of every alias change.

    python -m ml.registry history
    python -m ml.registry promote --version 3 [--reason "..."]
    python -m ml.registry rollback [--reason "..."]
    python -m ml.registry gate [--margin 0.01] [--class-f1-floor 0.5]

``challenger`` is the newest trained model (ml.train sets it); ``champion`` is the one
scoring uses (``models:/<name>@champion``). The gate moves ``champion`` to the
challenger only if, on the same held-out users, its macro F1 beats the champion's by at
least the margin and no class's F1 is below the floor.

Every decision, applied or refused, is an MLflow run in the experiment
``interest_classifier_registry``: who, when (the run's start), the alias, from which
version to which, why, and the metrics that justified it. ``history`` reads them back.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

import pandas as pd

from ml import tracking
from ml.config import GatePolicy
from ml.data import Split, load_split
from ml.metrics import metrics_from_confusion, per_class_f1
from usersegments.config import Settings

# Decisions that moved champion forward (a rollback walks back along these).
PROMOTIONS = ("gate_promote", "manual_promote")


class RegistryError(RuntimeError):
    pass


def alias_version(client, name: str, alias: str) -> int | None:
    """The version ``alias`` of registered model ``name`` points at, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return int(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def set_alias(
    settings: Settings,
    alias: str,
    version: int | None,
    actor: str,
    action: str,
    reason: str,
    metrics: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Record the decision as a run of the registry experiment and, if ``version`` is
    given, point ``alias`` at it (a refused promotion passes no version)."""
    import mlflow

    client = tracking.configure(settings)
    name = tracking.model_name(settings)
    previous = alias_version(client, name, alias)
    applied = version is not None
    record = {
        "model_name": name,
        "alias": alias,
        "action": action,
        "actor": actor,
        "reason": reason,
        "from_version": "" if previous is None else str(previous),
        "to_version": str(version) if applied else "",
        "applied": str(applied).lower(),
    }
    experiment = tracking.experiment_id(client, tracking.REGISTRY_EXPERIMENT, settings)
    title = f"{alias}: v{previous} -> v{version}" if applied else f"{alias}: v{previous} kept"
    with mlflow.start_run(
        experiment_id=experiment,
        run_name=title,
        tags=record,
        nested=mlflow.active_run() is not None,
    ):
        mlflow.log_metrics({k: float(v) for k, v in (metrics or {}).items() if v is not None})
    if applied:
        client.set_registered_model_alias(name, alias, str(version))
    return {**record, "metrics": metrics or {}}


def history(settings: Settings) -> pd.DataFrame:
    """Every recorded alias decision, oldest first."""
    import mlflow

    client = tracking.configure(settings)
    experiment = client.get_experiment_by_name(tracking.REGISTRY_EXPERIMENT)
    columns = ["at", "alias", "action", "from_version", "to_version", "applied", "actor", "reason"]
    if experiment is None:
        return pd.DataFrame(columns=columns)
    runs = mlflow.search_runs(
        experiment_ids=[experiment.experiment_id],
        filter_string=f"tags.model_name = '{tracking.model_name(settings)}'",
        order_by=["attributes.start_time ASC"],
    )
    if runs.empty:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame({"at": runs["start_time"]})
    for column in columns[1:]:
        frame[column] = runs[f"tags.{column}"]
    metrics = [c for c in runs.columns if c.startswith("metrics.")]
    for column in metrics:
        frame[column.removeprefix("metrics.")] = runs[column]
    return frame.reset_index(drop=True)


def evaluate(settings: Settings, name: str, version: int, split: Split) -> dict[str, float]:
    """A registered version's scores on the split's held-out users, loaded as any
    consumer loads it (pyfunc, by version)."""

    model = tracking.load_model(settings, f"models:/{name}/{version}")
    return metrics_from_confusion(split.heldout_confusion(model.predict), split.classes)


def gate(
    settings: Settings,
    policy: GatePolicy = GatePolicy(),
    actor: str | None = None,
    split: Split | None = None,
) -> dict[str, Any]:
    """Promote the challenger to champion if it earns it (see the module doc). The
    held-out users are those of the challenger's segmentation run."""
    client = tracking.configure(settings)
    name = tracking.model_name(settings)
    challenger = alias_version(client, name, "challenger")
    if challenger is None:
        raise RegistryError(f"{name} has no challenger: run ml.train first")
    if split is None:
        run_id = client.get_model_version(name, str(challenger)).tags.get("segmentation_run_id")
        split = load_split(settings, run_id)
    classes = split.classes
    actor = actor or getpass.getuser()

    challenger_scores = evaluate(settings, name, challenger, split)
    class_f1 = per_class_f1(challenger_scores, classes)
    weakest = min(class_f1, key=class_f1.get)
    champion = alias_version(client, name, "champion")
    champion_scores: dict[str, float] | None = None
    champion_error = None
    if champion is not None and champion != challenger:
        try:
            champion_scores = evaluate(settings, name, champion, split)
        except Exception as error:
            champion_error = f"{type(error).__name__}: {str(error)[:300]}"

    metrics = {
        "challenger_macro_f1": challenger_scores["macro_f1"],
        "champion_macro_f1": champion_scores["macro_f1"] if champion_scores else None,
        "challenger_min_class_f1": class_f1[weakest],
        "margin": policy.margin,
        "class_f1_floor": policy.class_f1_floor,
        "heldout_users": float(split.size("heldout")),
    }
    if champion == challenger:
        promote, reason = False, f"v{challenger} is already the champion"
    elif class_f1[weakest] < policy.class_f1_floor:
        promote = False
        reason = (
            f"class {weakest} F1 {class_f1[weakest]:.3f} is below the floor {policy.class_f1_floor}"
        )
    elif champion is None:
        promote, reason = True, "no champion yet"
    elif champion_error:
        promote, reason = (
            True,
            f"champion v{champion} cannot score the held-out users ({champion_error})",
        )
    else:
        gain = challenger_scores["macro_f1"] - champion_scores["macro_f1"]
        promote = gain >= policy.margin
        reason = (
            f"macro F1 {challenger_scores['macro_f1']:.4f} vs champion v{champion} "
            f"{champion_scores['macro_f1']:.4f}: gain {gain:+.4f} "
            f"{'>=' if promote else '<'} margin {policy.margin}"
        )
    decision = set_alias(
        settings,
        "champion",
        challenger if promote else None,
        actor,
        "gate_promote" if promote else "gate_refuse",
        reason,
        metrics,
    )
    return {
        **decision,
        "promoted": promote,
        "challenger_version": challenger,
        "champion_version": challenger if promote else champion,
        "segmentation_run_id": split.segmentation_run_id,
    }


def gate_training(
    settings: Settings, training: dict[str, Any], policy: GatePolicy, actor: str
) -> dict[str, Any]:
    """The pipeline's gate step: the training report with the gate's decision, or the
    report as it is when no classifier was trained (``skipped``)."""
    if "skipped" in training:
        return training
    return {**training, "gate": gate(settings, policy, actor=actor)}


def promote(
    settings: Settings, version: int, actor: str | None = None, reason: str = "manual promotion"
) -> dict[str, Any]:
    """Make ``version`` the champion by hand (recorded like the gate's decisions)."""
    client = tracking.configure(settings)
    client.get_model_version(tracking.model_name(settings), str(version))  # fails if unknown
    return set_alias(
        settings, "champion", version, actor or getpass.getuser(), "manual_promote", reason
    )


def rollback(
    settings: Settings, actor: str | None = None, reason: str = "manual rollback"
) -> dict[str, Any]:
    """Give ``champion`` back to the version it had before its latest promotion. Repeated
    rollbacks keep walking back along the promotions (a rollback is not undone by one)."""
    client = tracking.configure(settings)
    name = tracking.model_name(settings)
    current = alias_version(client, name, "champion")
    if current is None:
        raise RegistryError(f"{name} has no champion to roll back")
    changes = history(settings)
    promotions = changes[
        (changes["alias"] == "champion")
        & changes["action"].isin(PROMOTIONS)
        & (changes["applied"] == "true")
        & (changes["to_version"] == str(current))
    ]
    if promotions.empty or not promotions.iloc[-1]["from_version"]:
        raise RegistryError(f"champion v{current} has no earlier champion to roll back to")
    target = int(promotions.iloc[-1]["from_version"])
    return set_alias(settings, "champion", target, actor or getpass.getuser(), "rollback", reason)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The interest classifier's registry aliases.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("history", help="every alias decision, oldest first")
    promote_cmd = commands.add_parser("promote", help="make a version the champion")
    promote_cmd.add_argument("--version", type=int, required=True)
    promote_cmd.add_argument("--reason", default="manual promotion")
    rollback_cmd = commands.add_parser("rollback", help="restore the previous champion")
    rollback_cmd.add_argument("--reason", default="manual rollback")
    gate_cmd = commands.add_parser("gate", help="promote the challenger if it beats the champion")
    gate_cmd.add_argument("--margin", type=float, default=GatePolicy.margin)
    gate_cmd.add_argument("--class-f1-floor", type=float, default=GatePolicy.class_f1_floor)
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    try:
        if args.command == "history":
            with pd.option_context(
                "display.max_columns", None, "display.width", 200, "display.max_colwidth", 80
            ):
                print(history(settings).to_string(index=False))
            return 0
        if args.command == "promote":
            result = promote(settings, args.version, reason=args.reason)
        elif args.command == "rollback":
            result = rollback(settings, reason=args.reason)
        else:
            result = gate(settings, GatePolicy(args.margin, args.class_f1_floor))
    except RegistryError as error:
        print(error, file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
