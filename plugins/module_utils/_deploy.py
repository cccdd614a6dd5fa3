# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""What ``tao.fleet.engine_deploy`` does on the host in one call, in the order of the role's stages:

0. fetch (with ``fetch``): the model into the store (``_download.fetch_model``, exactly as
   ``tao.fleet.model_fetch``; with the controller cache, from the file the action plugin sent);
1. engine: reuse the engine of this fingerprint, take it from ``shared_engine``, or build it
   (``_engine.ensure_engine``, exactly as ``tao.fleet.trt_engine``); with ``build: false`` and no engine,
   stop there and say ``missing`` (the action plugin then brings the share's entry or asks for a build);
2. smoke: test it (``_smoke.smoke``), unless it is an engine this host reused and its manifest records a
   passed test (``smoke.rerun`` tests it again);
3. consumers: write its DeepStream and Triton files (``_consumers``), when asked;
4. release: switch ``active`` to it and remove old engines (``_release``);
5. with ``deploy_record_id`` (from the action plugin): record the deployment, so that the next run need not
   call this host while nothing changed (``_deploy_record``).

Each stage is the code of its own module, so this one call does what five module calls did; only the
round trips are saved (one module call costs a host about as much as the work of most stages). The first
stage that fails stops the rest, and its failure names it (``stage``). Nothing before the release touches
``active``; a release that fails after switching is undone here, so the engine active before stays active.
In check mode nothing after a build that would happen runs (there is no engine to test).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tao.fleet.plugins.module_utils._consumers import write_consumers
from ansible_collections.tao.fleet.plugins.module_utils._download import FetchSpec, fetch_model
from ansible_collections.tao.fleet.plugins.module_utils._engine import ensure_engine
from ansible_collections.tao.fleet.plugins.module_utils._engine_options import ENGINE_OPTION_SPEC
from ansible_collections.tao.fleet.plugins.module_utils._errors import TaoFleetError
from ansible_collections.tao.fleet.plugins.module_utils._progress import Progress, set_current
from ansible_collections.tao.fleet.plugins.module_utils._release import release_engine
from ansible_collections.tao.fleet.plugins.module_utils._store import EngineStore

STAGES = ('fetch', 'engine', 'smoke', 'consumers', 'release')


class DeployFailed(Exception):
    """A stage failed: ``error`` (TaoFleetError) and the result so far, with ``stage`` naming it."""

    def __init__(self, error, result, warnings):
        super(DeployFailed, self).__init__(str(error))
        self.error = error
        self.result = result
        self.warnings = warnings

    def to_result(self):
        """Keyword arguments for ``fail_json``: the stages' results so far, then the error."""
        failure = dict(self.result)
        failure.pop('msg', None)
        failure.update(self.error.to_result())
        return failure


def smoke_needed(smoke_options, engine):
    """A reused engine whose manifest records a passed smoke test is not tested again: a second run of a
    rollout then costs no inference. A new engine (built or taken from the share) always is."""
    if smoke_options.get('rerun') or not engine.get('reused'):
        return True
    record = (engine.get('manifest') or {}).get('smoke') or {}
    return not record.get('passed')


def _picture_missing():
    return TaoFleetError(
        'No smoke-test picture: the generated scene has nothing a real detector finds, so the test would '
        'fail for the wrong reason.',
        cause='smoke.image is empty and smoke.expect is not set, and the model is not the stand-in '
              '(role tao.fleet.deploy_model: deploy_model_smoke_image and deploy_model_smoke_expect).',
        fix='Put a picture with what the model detects on the host and set smoke.image (and, for example, '
            'smoke.expect: {min_detections: 1, classes: [person]}), or set smoke.expect: {min_detections: 0} '
            'to only check that the engine runs.',
        code='smoke_image_missing')


def _run_smoke(params, engine, model_path, check_mode):
    options = params['smoke']
    if not options.get('image') and not options.get('expect') and not options['model_entry'].get('stand_in'):
        raise _picture_missing()
    platform = params['platform']
    if not platform:
        # only when the caller gave no facts: the same reading tao.fleet.engine_smoke makes
        from ansible_collections.tao.fleet.plugins.module_utils._platform import gather
        platform = gather(params['sysroot'], probe_interpreter=False)
    from ansible_collections.tao.fleet.plugins.module_utils._smoke import smoke, smoke_outcome
    result, changed = smoke(
        params['store'], engine['model_name'], options['model_entry'], fingerprint=engine['fingerprint'],
        image=options.get('image'), scene=options.get('scene'), backend=options['backend'],
        warmup=options['warmup'], runs=options['runs'], batch=options['batch'], expect=options.get('expect'),
        postprocessing=options.get('postprocessing'), model_path=model_path, model_key=params['model_key'],
        platform=platform, device=options['device'], timeout=options['timeout'], check_mode=check_mode)
    return smoke_outcome(result, changed)


def _undo(params, engine, release_error):
    """After a release that failed once it had switched: back to the engine active before. Returns the
    error to report (the release's, with a failed undo added)."""
    try:
        store = EngineStore(params['store'])
        store.rollback(engine['model_name'], from_fingerprint=engine['fingerprint'])
    except (TaoFleetError, OSError) as err:
        release_error.msg = '%s The undo of the switch failed too: %s' % (release_error.msg, err)
    return release_error


def deploy(params, check_mode=False, diff=False):
    """Run the stages; ``params``: engine_deploy's options. Returns (result, warnings): the engine
    result of tao.fleet.trt_engine, with ``stage`` (the last stage that ran) and ``fetch``, ``smoke``,
    ``consumers``, ``release`` (each stage's own result, or None when it did not run). Raises DeployFailed.
    While it runs, ``<store>/progress/<model>.json`` says which stage (``_progress``)."""
    progress = Progress(None if check_mode else params['store'], params.get('model_name'))
    set_current(progress)
    try:
        return _stages(params, check_mode, diff, progress)
    finally:
        set_current(None)
        progress.finish()


def _stages(params, check_mode, diff, progress):
    engine_params = dict((key, params[key]) for key in ENGINE_OPTION_SPEC if key != 'engine_share')
    result = {'stage': 'engine', 'fetch': None, 'smoke': None, 'consumers': None, 'release': None}
    fetch_warnings = []
    if params.get('fetch'):
        result['stage'] = 'fetch'
        progress.stage('fetch')
        options = dict((key, value) for key, value in params['fetch'].items() if key != 'controller_cache')
        try:
            result['fetch'], fetch_warnings = fetch_model(FetchSpec(store=params['store'], **options),
                                                          check_mode=check_mode)
        except TaoFleetError as err:
            result['fetch'] = dict(err.to_result(), failed=True)
            raise DeployFailed(err, result, [])
        if check_mode and result['fetch'].get('changed'):
            # nothing downloaded: no model to compute the fingerprint from
            result.update(changed=True, msg=result['fetch'].get('msg'))
            return result, fetch_warnings
        engine_params['model_path'] = result['fetch']['path']
    progress.stage('engine')
    try:
        engine, warnings = ensure_engine(engine_params, check_mode=check_mode)
    except TaoFleetError as err:
        result['stage'] = 'engine'
        raise DeployFailed(err, result, fetch_warnings)
    warnings = list(fetch_warnings) + list(warnings)
    result.update(engine)
    result['stage'] = 'engine'
    if engine.get('missing') or (check_mode and engine.get('changed')):
        return result, warnings

    stage = 'smoke'
    try:
        if smoke_needed(params['smoke'], engine):
            result['stage'] = stage
            progress.stage(stage)
            try:
                result['smoke'], more = _run_smoke(params, engine, engine_params['model_path'], check_mode)
            except TaoFleetError as err:
                from ansible_collections.tao.fleet.plugins.module_utils._smoke import smoke_failure
                failure, more = smoke_failure(err)
                result['smoke'] = dict(failure, failed=True)
                warnings.extend(more)
                raise
            warnings.extend(more)
        consumers = params['consumers']
        if consumers and (consumers.get('deepstream') or consumers.get('triton')):
            stage = result['stage'] = 'consumers'
            progress.stage(stage)
            options = dict(consumers, store=params['store'], model=engine['model_name'],
                           fingerprint=engine['fingerprint'])
            if not options.get('model_entry'):
                options['model_entry'] = params['smoke']['model_entry']
            result['consumers'], more = write_consumers(options, check_mode=check_mode, diff=diff)
            warnings.extend(more)
        stage = result['stage'] = 'release'
        progress.stage(stage)
        seen = {}
        try:
            result['release'], more = release_engine(
                {'store': params['store'], 'model': engine['model_name'], 'fingerprint': engine['fingerprint'],
                 'state': 'active', 'force': False, 'keep': params['keep']},
                seen, check_mode=check_mode, diff=diff)
        except TaoFleetError as err:
            result['release'] = dict(err.to_result(), failed=True, active_before=seen.get('active_before'))
            if not check_mode and 'active_before' in seen and seen['active_before'] != engine['fingerprint']:
                raise _undo(params, engine, err)
            raise
        warnings.extend(more)
    except TaoFleetError as err:
        if stage != 'smoke' and result.get(stage) is None:
            result[stage] = dict(err.to_result(), failed=True)
        raise DeployFailed(err, result, warnings)
    result['changed'] = bool(engine.get('changed')) or any(
        bool((result[name] or {}).get('changed')) for name in ('fetch', 'smoke', 'consumers', 'release'))
    result['msg'] = '%s; %s' % (engine.get('msg') or 'engine %s' % engine['fingerprint'], result['release']['msg'])
    if params.get('deploy_record_id') and not check_mode:
        # lets the next run's action plugin leave this host alone while nothing changed (_deploy_record)
        from ansible_collections.tao.fleet.plugins.module_utils._deploy_record import write_record
        problem = write_record(params['store'], params['deploy_record_id'], result, params.get('calibration_cache'))
        if problem:
            warnings.append('The deployment record was not written (%s): the next run calls this host again.'
                            % problem)
    return result, warnings
