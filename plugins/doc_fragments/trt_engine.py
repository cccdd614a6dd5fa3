# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The engine options of tao.fleet.trt_engine, which tao.fleet.engine_deploy takes as they are
    (argument spec: plugins/module_utils/_engine_options.py)."""

    DOCUMENTATION = r'''
options:
  model_path:
    description:
      - The model file on the host, as C(tao.fleet.model_fetch) returned it - a TAO C(.etlt) (ONNX or UFF
        inside) or a plain C(.onnx)/C(.uff).
      - May instead be the one positional argument of O(converter_args).
    type: path
  model_name:
    description:
      - Store name of the model (C(<store>/engines/<model_name>/)). Default the catalog id from O(model),
        else the file name without its extension.
    type: str
  model_key:
    description:
      - Key of the C(.etlt) (tao-converter C(-k)); NGC's TAO models use C(tlt_encode) (LPDNet, FaceDetect
        C(nvidia_tlt)). Default the key of the O(model) catalog entry.
    type: str
  model:
    description:
      - The catalog entry, as the C(tao.fleet.model_artifact) filter returns it (or one artifact). Supplies
        the key, the UFF input name and dims, the output names and the store name.
    type: dict
  platform:
    description:
      - The host's C(ansible_facts.tao_platform) from C(tao.fleet.platform_facts). Its C(platform_key) goes
        into the fingerprint, its C(tensorrt) must be the TensorRT the build imports (else the task fails,
        because the facts are stale).
      - When omitted the module gathers the facts itself (reading below O(sysroot)).
    type: dict
  converter_args:
    description:
      - A tao-converter argument string, translated one to one, for example
        C(-k tlt_encode -t fp16 -d 3,544,960 -p input_1,1x3x544x960,8x3x544x960,16x3x544x960).
      - Flags C(-k -t -d -o -c -b -m -w -i -p -s -u -e) (C(docs/trt_engine.md) has the table); C(-e) is
        ignored with a warning (the engine goes to the store). An option also given explicitly with another
        value is an error.
    type: str
  precision:
    description:
      - Engine precision (C(-t)). Unset means tao-converter's default, C(fp32).
      - On strongly typed TensorRT (11.x, TensorRT-RTX) the model's own types decide; C(fp32) and
        C(strongly_typed) are then the same engine, C(fp16) and C(int8) are refused.
    type: str
    choices: [fp32, fp16, int8, strongly_typed]
  input_name:
    description:
      - UFF input node name. Default from the C(.etlt) header or O(model). ONNX models carry their own.
    type: str
  input_dims:
    description:
      - UFF input dimensions C(C,H,W) (C(-d)), as a list or text C(3,544,960). ONNX models carry their own.
    type: raw
  output_names:
    description:
      - UFF output node names (C(-o)). ONNX models carry their own.
    type: list
    elements: str
  input_order:
    description:
      - UFF input order (C(-i)). Unset means C(nchw).
    type: str
    choices: [nchw, nhwc, nc]
  calibration_cache:
    description:
      - INT8 calibration cache file on the host (C(-c)); needed for O(precision=int8) (PeopleNet ships
        C(resnet34_peoplenet_int8.txt)). Its sha256 is part of the fingerprint of INT8 engines.
    type: path
  calibration_batch_size:
    description:
      - tao-converter C(-b). Accepted for one-to-one translation; it has no effect (the cache is used, no
        images are calibrated on the host).
    type: int
  max_batch_size:
    description:
      - C(-m). Implicit batch of UFF networks, and the batch of the profile derived for an ONNX input whose
        batch is dynamic (min 1, opt and max this). Unset means C(16).
    type: int
  workspace:
    description:
      - Builder workspace (C(-w)), bytes or a size such as C(1G) or C(512M). Unset means C(1G).
    type: str
  profiles:
    description:
      - Optimization profile (C(-p)), a list of C(name,min,opt,max) strings (shapes C(NxCxHxW)) or a dict
        mapping each dynamic input to its C(min), C(opt) and C(max) shapes.
    type: raw
  strict_types:
    description:
      - Keep layer precisions as asked (C(-s)).
    type: bool
  dla_core:
    description:
      - Build for this DLA core (C(-u)); Xavier and Orin have cores 0 and 1. Refused where there is no DLA.
    type: int
  gpu_fallback:
    description:
      - Let layers DLA cannot run fall back to the GPU (tao-converter always does). Unset means C(true).
    type: bool
  min_dla_layers:
    description:
      - With O(dla_core), fail (and store nothing) when fewer layers than this run on the DLA - a count
        (C(40)) or a percentage (C(90%)). TensorRT moves layers to the GPU silently; the result's C(dla) reports the
        counts.
    type: str
  compute_capabilities:
    description:
      - TensorRT-RTX only - build ahead of time for these GPUs (C(8.9), C(12.0)). Unset means TensorRT-RTX's
        default targets.
    type: list
    elements: str
  build_timeout:
    description:
      - Seconds the build may take; then its process group is killed and the task fails with
        C(build_timeout).
    type: int
    default: 3600
  build_memory_limit:
    description:
      - Heap limit of the build process (C(RLIMIT_DATA)), as a size (C(6G)), C(auto) (75% of the host's
        RAM as the platform facts report it) or C(none). Beyond it the build fails with
        C(build_out_of_memory) instead of waking the kernel's OOM killer.
      - Not C(RLIMIT_AS) (C(ulimit -v)) - CUDA reserves far more address space than memory at init and
        fails under any useful address-space limit.
    type: str
    default: auto
  keep_decrypted_model:
    description:
      - Write the decrypted model (ONNX/UFF bytes) to this path on the host (mode 0600, atomically). Unset,
        the decrypted model exists only in memory.
    type: path
  engine_share:
    description:
      - Directory on the controller holding engines by fingerprint
        (C(<engine_share>/<fingerprint>/model.engine) and C(manifest.json)). When this host's engine is
        not in its store, an entry for its fingerprint is taken from here (checked on the host); an engine
        built here is published here. Hosts with the same fingerprint wait for one build (a file lock on
        the controller).
      - Handled by the action plugin on the controller. Unset, every host builds its own engine.
    type: path
  shared_engine:
    description:
      - A directory on the host with C(model.engine) and C(manifest.json) of an engine built elsewhere, used
        when the store has no intact engine with this fingerprint - only when the manifest names this
        host's fingerprint, its inputs hash to it and the engine's sha256 is the manifest's; otherwise a
        warning, and the engine is built.
      - The action plugin sets it for O(engine_share).
    type: path
  shared_manifest:
    description:
      - The manifest of the engine in O(shared_engine), when it comes with the task instead of as
        C(manifest.json) in that directory; it is checked the same way.
      - The action plugin sets it for O(engine_share), saving a file copy per host.
    type: dict
  shared_sha256:
    description:
      - The sha256 that the engine in O(shared_engine) must have, besides the one its manifest names.
      - The action plugin sets it for O(engine_share) from the controller's share index (the sha256 the
        controller computed itself when it fetched the engine from its builder), so that an entry changed in
        the share is refused even when its manifest was changed with it.
    type: str
  build:
    description:
      - When false and no intact engine with this fingerprint is in the store (or in O(shared_engine)),
        return RV(missing=true) instead of building. The action plugin uses it to look in the share first.
    type: bool
    default: true
'''
