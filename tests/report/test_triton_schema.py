# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The Triton config.pbtxt that tao.fleet.engine_consumers writes, parsed with Triton's own model
configuration schema (model_config.proto as shipped in tritonclient) by protobuf's text format
parser, the way Triton reads config.pbtxt. A misspelt field or enum value fails here.

It lives in this suite because the suite's Python 3.11 venv is where tritonclient installs (it
needs Python 3.9+); the unit tests of the same code run on Python 3.6 to 3.12 without it.
"""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from ansible_collections.tao.fleet.plugins.module_utils._deepstream import EngineConsumers

REPO = Path(__file__).resolve().parents[2]
ACTIVE = "/var/lib/tao_fleet/engines/peoplenet/active"


def catalog():
    return yaml.safe_load((REPO / "catalog" / "models.yml").read_text())["models"]


def engine(model_id, artifact_id, batch="profile"):
    """Catalog entry, artifact and a manifest like trt_engine's for an engine built from it."""
    model = catalog()[model_id]
    artifact = copy.deepcopy([item for item in model["artifacts"] if item["id"] == artifact_id][0])
    implicit = artifact["input"]["batch"] == "implicit"
    lead = [] if implicit else ([1] if batch == "fixed" else [-1])
    build = {"precision": "fp16", "tensorrt": {"version": "10.3.0.30", "flavour": "tensorrt", "test_double": False},
             "inputs": [{"name": artifact["input"]["name"], "shape": lead + artifact["input"]["dims"]}],
             "outputs": [{"name": item["name"], "shape": lead + item["dims"]} for item in artifact["outputs"]]}
    if implicit:
        build["max_batch"] = 16
    elif batch == "profile":
        dims = artifact["input"]["dims"]
        build["profiles"] = {artifact["input"]["name"]: {"min": [1] + dims, "opt": [8] + dims, "max": [8] + dims}}
    manifest = {"fingerprint": "c" * 64, "model": model_id, "inputs": {"build": {"precision": "fp16"}}, "build": build}
    return EngineConsumers(model_id, model, manifest, ACTIVE, artifact), artifact


def parse(text):
    return text_format.Parse(text, model_config_pb2.ModelConfig())


@pytest.mark.parametrize("model_id,artifact_id,max_batch", [
    ("peoplenet", "onnx_v2.3.4", 8), ("peoplenet", "etlt_int8_v2.6.1", 16),
    ("trafficcamnet", "onnx_v1.0.4", 8), ("lpdnet_ccpd", "onnx_v2.3.1", 8), ("peoplenet_standin", "etlt", 8)])
def test_triton_reads_the_config(model_id, artifact_id, max_batch):
    consumers, artifact = engine(model_id, artifact_id)
    config = parse(consumers.triton_config_text(model_id, gpu_id=0))
    assert config.name == model_id and config.platform == "tensorrt_plan"
    assert config.default_model_filename == "model.plan" and config.max_batch_size == max_batch
    (model_input,) = config.input
    assert model_input.name == artifact["input"]["name"]
    assert list(model_input.dims) == artifact["input"]["dims"]
    assert model_input.data_type == model_config_pb2.TYPE_FP32
    assert model_input.format == model_config_pb2.ModelInput.FORMAT_NCHW
    roles = dict((item["role"], item) for item in artifact["outputs"])
    assert [(output.name, list(output.dims)) for output in config.output] == [
        (roles[role]["name"], roles[role]["dims"]) for role in ("coverage", "bbox")]
    (group,) = config.instance_group
    assert group.kind == model_config_pb2.ModelInstanceGroup.KIND_GPU and list(group.gpus) == [0]


def test_fixed_batch_engine_keeps_its_batch_dimension():
    consumers, artifact = engine("peoplenet", "onnx_v2.3.4", batch="fixed")
    config = parse(consumers.triton_config_text("peoplenet"))
    assert config.max_batch_size == 0 and list(config.input[0].dims) == [1] + artifact["input"]["dims"]


def test_the_parser_is_strict():
    consumers, _artifact = engine("peoplenet", "onnx_v2.3.4")
    text = consumers.triton_config_text("peoplenet")
    with pytest.raises(text_format.ParseError):
        parse(text.replace("TYPE_FP32", "FP32", 1))
    with pytest.raises(text_format.ParseError):
        parse(text.replace("max_batch_size", "max_batch", 1))
