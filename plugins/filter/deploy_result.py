# -*- coding: utf-8 -*-
# Copyright: tao.fleet contributors
# Apache License 2.0 (see LICENSE)
"""The per-host result of role tao.fleet.deploy_model (``deploy_model_result``), built from what its
stages registered, in the schema role tao.fleet.fleet_report reads (docs/fleet-report.md).
Documentation for ansible-doc: ``deploy_model_result.yml`` beside this file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

STAGES = ('facts', 'fetch', 'engine', 'smoke', 'consumers', 'release', 'rollback')
UNREACHABLE_CODE = 'host_unreachable'


def _ran(result):
    """The registered result of a task that ran (not skipped, not absent)."""
    if not isinstance(result, dict) or not result or result.get('skipped'):
        return None
    return result


def _version(value, key):
    """'6.2' from the facts' {version: '6.2', ...} (or a plain string)."""
    if isinstance(value, dict):
        return value.get(key)
    return value


def platform_summary(facts):
    if not isinstance(facts, dict) or not facts:
        return None
    module = facts.get('module') if isinstance(facts.get('module'), dict) else {}
    gpu = facts.get('gpu') if isinstance(facts.get('gpu'), dict) else {}
    power = facts.get('power') if isinstance(facts.get('power'), dict) else None
    nvpmodel = (power or {}).get('nvpmodel') if isinstance((power or {}).get('nvpmodel'), dict) else {}
    trt = facts.get('tensorrt') if isinstance(facts.get('tensorrt'), dict) else {}
    python = facts.get('python')
    return {
        'kind': facts.get('kind'),
        'module': module.get('description') or module.get('name') or gpu.get('name'),
        'module_id': module.get('part_number') or module.get('id'),
        'soc': facts.get('soc'),
        'jetpack': _version(facts.get('jetpack'), 'version'),
        'l4t': _version(facts.get('l4t'), 'release'),
        'compute_capability': facts.get('compute_capability'),
        'dla_cores': facts.get('dla_cores'),
        'power_mode': {'name': nvpmodel.get('name'), 'id': nvpmodel.get('id'),
                       'jetson_clocks': power.get('jetson_clocks')} if power else None,
        'tensorrt': {'version': trt.get('version'), 'flavour': trt.get('flavour'),
                     'test_double': trt.get('test_double')} if trt else None,
        'python': _version(python, 'version'),
    }


def platform_warnings(facts):
    """The warnings tao.fleet.platform_facts put in its facts, as text (none when the facts have none)."""
    warnings = facts.get('warnings') if isinstance(facts, dict) else None
    return [str(warning) for warning in warnings] if isinstance(warnings, list) else []


def model_summary(choice, fetched, name):
    choice = choice if isinstance(choice, dict) else {}
    artifact = choice.get('artifact') if isinstance(choice.get('artifact'), dict) else {}
    fetched = _ran(fetched) or {}
    if not (choice or fetched):
        return {'name': name} if name else None
    return {
        'name': choice.get('model') or name,
        'artifact': choice.get('artifact_id'),
        'file': artifact.get('file'),
        'sha256': fetched.get('sha256'),
        'source': fetched.get('source'),
        'bytes_transferred': fetched.get('bytes_transferred'),
        'cache_hit': fetched.get('cache_hit'),
    }


def _engine_how(built, check_mode):
    """How this run got the engine, in words the console and the report show."""
    if built.get('reused'):
        return 'reused'
    if check_mode and built.get('changed'):
        # check mode neither built nor imported: say what a real run would do
        return 'would be taken from the engine share' if built.get('shared') else 'would be built'
    if built.get('shared'):
        return 'taken from the engine share'
    return 'built' if built.get('built') else None


def engine_summary(built, check_mode=False):
    built = _ran(built)
    if not built or not built.get('fingerprint'):
        return None
    targets = built.get('targets') if isinstance(built.get('targets'), dict) else {}
    note = None
    if targets and targets.get('device_supported') is False:
        chosen = ', '.join(targets.get('compute_capabilities') or [])
        note = ('%s cannot target this device\'s compute capability %s: the engine is for %s and will not run here'
                % ((built.get('tensorrt') or {}).get('label') or 'this TensorRT', targets.get('device_compute_capability'),
                   ('compute capability ' + chosen) if chosen else (targets.get('chosen_by') or 'other GPUs')))
    return {
        'fingerprint': built.get('fingerprint'),
        'path': built.get('engine_path'),
        'built': bool(built.get('built')) and not built.get('reused'),
        'reused': bool(built.get('reused')),
        # taken from the engine share (built by the canary of its platform class), verified on arrival
        'shared': bool(built.get('shared')),
        'build_seconds': built.get('build_seconds'),
        'targets_note': note,
        'how': _engine_how(built, check_mode),
    }


def smoke_summary(tested, built):
    """From the engine_smoke result (passed or failed), else from the manifest record of a reused
    engine whose smoke test passed before (the role does not test it again)."""
    tested = _ran(tested)
    if tested and 'passed' in tested:
        latency = tested.get('latency_ms') if isinstance(tested.get('latency_ms'), dict) else {}
        published = tested.get('published') if isinstance(tested.get('published'), dict) else {}
        failures = tested.get('failures') or []
        count = tested.get('detection_count')
        if count is None and isinstance(tested.get('detections'), list):
            count = len(tested['detections'])
        return {
            'passed': bool(tested.get('passed')),
            'backend': tested.get('backend'),
            'engine_executed': tested.get('engine_executed'),
            'reason': '; '.join(failures) if failures else tested.get('engine_not_executed_reason'),
            'detections': count,
            'latency_ms': dict((key, latency.get(key)) for key in ('p50', 'p95', 'max')) if latency else None,
            'throughput_fps': tested.get('throughput_fps'),
            'published_fps': published.get('fps'),
            'published_ratio': tested.get('throughput_ratio'),
            # backend auto fell back to onnxruntime on the CPU: a pass then says nothing of the engine
            'fallback': tested.get('fallback'),
            'tested_in_this_run': True,
        }
    built = _ran(built) or {}
    record = (built.get('manifest') or {}).get('smoke') if isinstance(built.get('manifest'), dict) else None
    if not isinstance(record, dict):
        return None
    latency = record.get('latency_ms') if isinstance(record.get('latency_ms'), dict) else {}
    return {
        'passed': bool(record.get('passed')),
        'backend': record.get('backend'),
        'engine_executed': record.get('engine_executed'),
        'reason': record.get('reason') or record.get('engine_not_executed_reason'),
        'detections': record.get('detections'),
        'latency_ms': dict((key, latency.get(key)) for key in ('p50', 'p95', 'max')) if latency else None,
        'throughput_fps': record.get('throughput_fps'),
        'published_fps': None,
        'published_ratio': record.get('throughput_ratio'),
        'fallback': record.get('fallback'),
        'tested_in_this_run': False,
    }


def error_summary(failure, stage):
    """{msg, cause, fix, code, stage} from a failed task: a tao.fleet module's failure (msg, cause,
    fix, error_code), the role's own checks (msg is that dict), or any other failure (msg only)."""
    if not isinstance(failure, dict) or not failure:
        return None
    detail = failure.get('msg')
    if isinstance(detail, dict):
        error = dict(detail)
    else:
        error = {'msg': detail if detail is not None else failure.get('message'),
                 'cause': failure.get('cause'), 'fix': failure.get('fix'),
                 'code': failure.get('error_code') or failure.get('code')}
    if not error.get('msg'):
        error['msg'] = 'task failed without a message (rc %s)' % failure.get('rc')
    error['msg'] = str(error['msg'])
    for key in ('cause', 'fix', 'code'):
        error.setdefault(key, None)
    error['stage'] = error.get('stage') or stage
    return dict((key, error.get(key)) for key in ('msg', 'cause', 'fix', 'code', 'stage'))


# Stage results in the order the role registers them: the first unreachable one is where the host went away.
REGISTERED_STAGES = (('fetch', 'fetch'), ('calibration', 'fetch'), ('engine', 'engine'), ('smoke', 'smoke'),
                     ('consumers', 'consumers'), ('release', 'release'))


def unreachable_summary(outputs):
    """The error of a host that stopped answering during a stage, from the first unreachable stage result
    (cause and fix from ``unreachable_error``, the role's text), or None."""
    for key, stage in REGISTERED_STAGES:
        result = outputs.get(key)
        if isinstance(result, dict) and result.get('unreachable'):
            text = outputs.get('unreachable_error') if isinstance(outputs.get('unreachable_error'), dict) else {}
            return {'msg': '%s stopped answering at stage %s: %s' % (outputs['host'], stage, result.get('msg') or ''),
                    'cause': text.get('cause'), 'fix': text.get('fix'), 'code': UNREACHABLE_CODE, 'stage': stage}
    return None


# Stages whose module result marks them reached: the role names a stage itself (``stage``) only where it can
# fail before its module runs (facts, fetch, smoke), since each set_fact costs every host a round (docs/scale.md).
RESULT_STAGES = (('engine', 'engine'), ('smoke', 'smoke'), ('consumers', 'consumers'), ('release', 'release'))


def reached_stage(outputs):
    """The last stage the role reached: the later of ``stage`` and the last stage with a registered result
    (ran, failed, unreachable or skipped)."""
    stage = outputs.get('stage')
    for key, name in RESULT_STAGES:
        if isinstance(outputs.get(key), dict) and outputs[key] and (
                stage not in STAGES or STAGES.index(name) > STAGES.index(stage)):
            stage = name
    return stage


def _changed(*results):
    return any(bool((_ran(result) or {}).get('changed')) for result in results)


def deploy_model_result(outputs):
    """The ``deploy_model_result`` of one host. ``outputs``: ``host``, ``wave``, ``stage`` (the last
    stage the role named; a later stage with a registered result wins), ``failure`` (the failed task's result, or null), ``name`` (model id),
    ``platform`` (ansible_facts.tao_platform), ``choice`` (tao.fleet.model_artifact), and the
    registered results ``fetch``, ``calibration``, ``engine``, ``smoke``, ``consumers``,
    ``active_before`` (fingerprint active before the release, or null; default: the release result's), ``release``, and ``check_mode``
    (a --check run: a download or build it did not do leaves the later stages out, and the status says
    what a real run would do)."""
    if not isinstance(outputs, dict) or not outputs.get('host'):
        raise AnsibleFilterError('deploy_model_result expects a dict of the stage results with the host name, got %r.'
                                 % (outputs if not isinstance(outputs, dict) else sorted(outputs),))
    stage = outputs.get('stage')
    if stage is not None and stage not in STAGES:
        raise AnsibleFilterError('deploy_model_result: unknown stage %r (stages: %s).' % (stage, ', '.join(STAGES)))
    stage = reached_stage(outputs)
    failure = outputs.get('failure')
    if isinstance(failure, dict) and failure.get('stage') in STAGES:
        # tao.fleet.engine_deploy runs several stages in one call and names the one that failed
        stage = failure['stage']
    error = error_summary(failure, stage)
    gone = unreachable_summary(outputs)
    if gone:
        # the failure after it, if any, is only a later task missing the result the host never sent
        error, stage = gone, gone['stage']
    check_mode = bool(outputs.get('check_mode'))
    engine = engine_summary(outputs.get('engine'), check_mode)
    released = _ran(outputs.get('release'))
    release = None
    if released and released.get('active'):
        # engine_release reports it; a caller may give it instead ('' from set_fact means none)
        before = (outputs['active_before'] if 'active_before' in outputs else released.get('active_before')) or None
        release = {'active': released.get('active'), 'previous': released.get('previous'),
                   # the switch this run made (a cleanup of old engines alone is no switch)
                   'changed': bool(engine) and released.get('active') == engine['fingerprint']
                   and before != released.get('active'),
                   # the engine this run's switch replaced (null on a host's first deployment)
                   'replaced': before if before != released.get('active') else None}
    if error:
        status = 'unreachable' if error.get('code') == UNREACHABLE_CODE else 'failed'
    elif release is None and check_mode:
        # a download or build that check mode did not do: the stages after it did not run
        status = 'deployed'
    elif release is None:
        status, error = 'failed', {'msg': 'the role stopped before the release', 'cause': None, 'fix': None,
                                   'code': 'result_incomplete', 'stage': stage}
    else:
        status = 'deployed' if release['changed'] else 'unchanged'
    platform = outputs.get('platform') if isinstance(outputs.get('platform'), dict) else {}
    result = {
        'host': outputs['host'],
        'status': status,
        'stage': stage,
        'wave': None if outputs.get('wave') in (None, '') else str(outputs.get('wave')),
        'platform_class': platform.get('platform_class'),
        'platform': platform_summary(platform),
        'model': model_summary(outputs.get('choice'), outputs.get('fetch'), outputs.get('name')),
        'engine': engine,
        'smoke': smoke_summary(outputs.get('smoke'), outputs.get('engine')),
        'release': release,
        'error': error,
        'changed': (bool(release and release['changed'])
                    or _changed(outputs.get('fetch'), outputs.get('calibration'), outputs.get('engine'),
                                outputs.get('smoke'), outputs.get('consumers'), outputs.get('release'))),
    }
    store_before = outputs.get('store_before') if isinstance(outputs.get('store_before'), dict) else {}
    result['active_before_run'] = store_before.get('active')
    # the engine the host runs now: the release's, else the one it had (a failed stage never switches;
    # check mode switches nothing)
    result['active_engine'] = (release['active'] if release and not check_mode else store_before.get('active'))
    result['warnings'] = _reactivation_warnings(store_before, release, check_mode)
    # the platform's own warnings (tao.fleet.platform_facts), for the report rather than every run's console
    result['platform_warnings'] = platform_warnings(platform)
    if check_mode:
        # what a real run would do; nothing on the host changed
        result['check_mode'] = True
    return result


def _reactivation_warnings(store_before, release, check_mode):
    """A release that makes active again the engine a rollback left (``rolled_back_from``): said, not hidden."""
    undone = store_before.get('rolled_back_from')
    if not (release and release['changed'] and undone and release['active'] == undone):
        return []
    return ['%s engine %s again, which a rollback had taken out of service (rolled_back_from). If that '
            'rollback was for a fault of this engine, roll back again (playbook tao.fleet.rollback) and change '
            'the model or build options so that a new engine is built.'
            % ('A real run would make active' if check_mode else 'Made active', undone[:12])]


def deploy_model_rolled_back(result, rollback, failure=None, fingerprint=None, check_mode=False, platform=None):
    """A host's result after role tao.fleet.deploy_model returned it to its previous engine
    (entry point ``rollback``): ``rolled_back`` when the engine ``fingerprint`` (this rollout's) is
    no longer active, ``unchanged`` when it was not active to begin with (nothing to undo, e.g. a
    rollback run twice), ``failed`` at stage ``rollback`` when the rollback failed."""
    result = dict(result) if isinstance(result, dict) else {}
    if check_mode:
        result['check_mode'] = True
    if isinstance(platform, dict) and platform and not result.get('platform'):
        result.update(platform=platform_summary(platform), platform_class=platform.get('platform_class'),
                      platform_warnings=platform_warnings(platform))
    rolled = _ran(rollback)
    error = error_summary(failure, 'rollback')
    if error:
        result.update(status='unreachable' if error.get('code') == UNREACHABLE_CODE else 'failed',
                      stage='rollback', error=error)
        return result
    if not rolled:
        raise AnsibleFilterError('deploy_model_rolled_back: neither a rollback result nor a failure was given.')
    release = {'active': rolled.get('active'), 'previous': rolled.get('previous'),
               'changed': bool(rolled.get('changed'))}
    moved = rolled.get('active') != fingerprint if fingerprint else bool(rolled.get('changed'))
    result.update(status='rolled_back' if moved and rolled.get('rolled_back_from') else 'unchanged',
                  stage='rollback', release=release, error=None,
                  changed=bool(result.get('changed')) or bool(rolled.get('changed')),
                  # check mode moved nothing: what runs now is what ran before
                  active_engine=rolled.get('active_before') if check_mode else rolled.get('active'),
                  rolled_back_from=rolled.get('rolled_back_from'))
    return result


class FilterModule(object):
    def filters(self):
        return {
            'deploy_model_result': deploy_model_result,
            'deploy_model_rolled_back': deploy_model_rolled_back,
        }
