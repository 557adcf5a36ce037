"""aws_secret_rotate against moto's Secrets Manager server: real ansible-playbook runs, the secret made and read back with boto3.

Values are read back by stage (VersionStage=AWSCURRENT), as a consumer does: moto's
GetSecretValue without a stage answers the version it created last as current,
not the one UpdateSecretVersionStage moved AWSCURRENT to. moto cannot run a rotation
Lambda: method=lambda is covered by tests/unit/plugins/modules/test_aws_secret_rotate.py.
"""

import json
import string
from pathlib import Path

import boto3
import yaml

from tests.integration.runner import run_playbook

SECRET = 'prod/payments/api'
OLD_VALUE = 'old-Leaked-Key-7f3a9c1e5b'
NEW_VALUE = 'new-Fresh-Key-2d8b4e6a0c'
FAILED_TASK = 2  # ansible-playbook's exit status when a task failed


def sm_client():
    """boto3 in the test process, pointed at moto by the aws_env fixture."""
    return boto3.client('secretsmanager')


def stages(sm, secret_id=SECRET):
    """Version id -> sorted stages, versions without a stage left out."""
    found = sm.describe_secret(SecretId=secret_id)['VersionIdsToStages']
    return {version: sorted(labels) for version, labels in found.items() if labels}


def holder(found, stage):
    [version] = [version for version, labels in found.items() if stage in labels]
    return version


def current(sm, secret_id=SECRET):
    """(version id, value) of AWSCURRENT, read by stage."""
    answer = sm.get_secret_value(SecretId=secret_id, VersionStage='AWSCURRENT')
    return answer['VersionId'], answer['SecretString']


def rotate(tmp_path, check=False, diff=False, verbosity=0, expect_rc=0, **args):
    """Run one sre.runbooks.aws_secret_rotate task; the region comes from the aws action group's module_defaults."""
    task_args = dict(secret_id=SECRET)
    task_args.update(args)
    play = {'name': 'Rotate a secret', 'hosts': 'localhost', 'gather_facts': False,
            'module_defaults': {'group/sre.runbooks.aws': {'region': 'us-east-1'}},
            'tasks': [{'name': 'Rotate', 'register': 'out', 'sre.runbooks.aws_secret_rotate': task_args}]}
    path = Path(tmp_path) / ('rotate-%d.yml' % len(list(Path(tmp_path).glob('rotate-*.yml'))))
    path.write_text(yaml.safe_dump([play]), encoding='utf-8')
    return run_playbook(path, tmp_path, check=check, diff=diff, verbosity=verbosity, expect_rc=expect_rc)


def make_secret(sm, value=OLD_VALUE):
    sm.create_secret(Name=SECRET, SecretString=value)
    return current(sm)[0]


def captured(tmp_path, run):
    """Everything a run left behind: its stdout and every file it wrote in tmp_path (playbooks excepted: the test wrote those)."""
    texts = [run.output, json.dumps(run.results)]
    for path in Path(tmp_path).iterdir():
        if path.is_file() and not path.name.startswith('rotate-'):
            texts.append(path.read_text(encoding='utf-8', errors='replace'))
    return '\n'.join(texts)


def test_check_mode_plans_and_writes_nothing(aws_env, tmp_path):  # pylint: disable=unused-argument
    sm = sm_client()
    old = make_secret(sm)
    before = stages(sm)
    result = rotate(tmp_path, check=True, diff=True, value=NEW_VALUE).task('Rotate')
    assert result['changed'] is True
    assert result['version_before'] == old
    assert result['actions'][0].startswith('put the given value (checksum %s) as a new version of %s' % (result['checksum_after'], SECRET))
    assert result['diff']['before']['version_id'] == old
    assert stages(sm) == before == {old: ['AWSCURRENT']}
    assert current(sm) == (old, OLD_VALUE)
    assert len(sm.list_secret_version_ids(SecretId=SECRET)['Versions']) == 1


def test_rotates_a_given_value_moves_the_stages_and_a_second_run_changes_nothing(aws_env, tmp_path):  # pylint: disable=unused-argument
    sm = sm_client()
    old = make_secret(sm)
    first = rotate(tmp_path, diff=True, value=NEW_VALUE).task('Rotate')
    assert first['changed'] is True, first
    new = first['version_after']
    assert new != old and first['version_before'] == old
    assert stages(sm) == first['stages'] == {new: ['AWSCURRENT'], old: ['AWSPREVIOUS']}
    assert current(sm) == (new, NEW_VALUE)
    assert sm.get_secret_value(SecretId=SECRET, VersionStage='AWSPREVIOUS')['SecretString'] == OLD_VALUE
    assert first['checksum_before'] != first['checksum_after']
    assert first['rotated_at'] is not None
    assert first['secret_arn'] == sm.describe_secret(SecretId=SECRET)['ARN']

    second = rotate(tmp_path, value=NEW_VALUE).task('Rotate')
    assert second['changed'] is False and second['actions'] == []
    assert second['version_before'] == second['version_after'] == new
    assert second['checksum_before'] == first['checksum_after']
    assert stages(sm) == {new: ['AWSCURRENT'], old: ['AWSPREVIOUS']}


def test_json_key_rotation_keeps_the_other_keys(aws_env, tmp_path):  # pylint: disable=unused-argument
    sm = sm_client()
    old = make_secret(sm, json.dumps({'username': 'payments', 'api_key': OLD_VALUE, 'port': 5432}))
    result = rotate(tmp_path, json_key='api_key', value=NEW_VALUE).task('Rotate')
    assert result['changed'] is True
    version, text = current(sm)
    assert version == result['version_after'] != old
    assert json.loads(text) == {'username': 'payments', 'api_key': NEW_VALUE, 'port': 5432}
    assert list(json.loads(text)) == ['username', 'api_key', 'port']
    assert rotate(tmp_path, json_key='api_key', value=NEW_VALUE).task('Rotate')['changed'] is False

    message = rotate(tmp_path, json_key='apikey', value=NEW_VALUE, expect_rc=FAILED_TASK).task('Rotate')['msg']
    assert 'json_key apikey is not in the secret (its keys: api_key, port, username)' in message
    assert current(sm)[0] == version


def test_generate_makes_a_value_of_the_shape_asked_and_rotated_after_makes_it_declarative(aws_env, tmp_path):  # pylint: disable=unused-argument
    sm = sm_client()
    old = make_secret(sm)
    run = rotate(tmp_path, generate={'length': 48, 'charset': 'hex'}, verbosity=3)
    result = run.task('Rotate')
    assert result['changed'] is True
    version, value = current(sm)
    assert version == result['version_after'] != old
    assert len(value) == 48 and set(value) <= set('0123456789abcdef')
    assert value not in captured(tmp_path, run)

    # Created before now: rotate again. Created after an old incident start: nothing to do.
    again = rotate(tmp_path, generate={'length': 20, 'charset': 'alnum'}, rotated_after='2999-01-01T00:00:00Z').task('Rotate')
    assert again['changed'] is True
    version2, value2 = current(sm)
    assert len(value2) == 20 and set(value2) <= set(string.ascii_letters + string.digits) and version2 != version
    rerun = rotate(tmp_path, generate={'length': 20, 'charset': 'alnum'}, rotated_after='2020-01-01T00:00:00Z').task('Rotate')
    assert rerun['changed'] is False
    assert current(sm) == (version2, value2)


def test_rolled_back_puts_the_old_version_back_and_a_second_rollback_does_nothing(aws_env, tmp_path):  # pylint: disable=unused-argument
    sm = sm_client()
    old = make_secret(sm)
    new = rotate(tmp_path, value=NEW_VALUE).task('Rotate')['version_after']

    check = rotate(tmp_path, check=True, state='rolled_back').task('Rotate')
    assert check['changed'] is True and check['version_after'] == old
    assert current(sm) == (new, NEW_VALUE)

    result = rotate(tmp_path, state='rolled_back').task('Rotate')
    assert result['changed'] is True
    assert result['version_before'] == new and result['version_after'] == old
    assert current(sm) == (old, OLD_VALUE)
    found = stages(sm)
    assert holder(found, 'AWSCURRENT') == old and holder(found, 'AWSPREVIOUS') == new
    assert 'AWSPENDING' not in json.dumps(found)

    again = rotate(tmp_path, state='rolled_back').task('Rotate')
    assert again['changed'] is False and again['version_after'] == old
    assert rotate(tmp_path, state='rolled_back', version_id=old).task('Rotate')['changed'] is False
    assert current(sm) == (old, OLD_VALUE)

    # An explicit version moves AWSCURRENT there (forward again, here).
    forward = rotate(tmp_path, state='rolled_back', version_id=new).task('Rotate')
    assert forward['changed'] is True and current(sm) == (new, NEW_VALUE)


def test_values_never_appear_in_any_output(aws_env, tmp_path):  # pylint: disable=unused-argument
    sm = sm_client()
    make_secret(sm)
    runs = [
        rotate(tmp_path, check=True, diff=True, verbosity=3, value=NEW_VALUE),
        rotate(tmp_path, diff=True, verbosity=3, value=NEW_VALUE),
        rotate(tmp_path, diff=True, verbosity=3, value=NEW_VALUE),
        rotate(tmp_path, diff=True, verbosity=3, state='rolled_back'),
        # A failure that reads the secret: json_key on a secret that is not JSON.
        rotate(tmp_path, diff=True, verbosity=3, json_key='api_key', value=NEW_VALUE, expect_rc=FAILED_TASK),
    ]
    assert current(sm)[1] == OLD_VALUE
    for run in runs:
        text = captured(tmp_path, run)
        assert 'aws_secret_rotate' in text
        assert OLD_VALUE not in text and NEW_VALUE not in text


def test_a_missing_secret_is_refused_with_a_clear_message(aws_env, tmp_path):  # pylint: disable=unused-argument
    run = rotate(tmp_path, secret_id='prod/nope', value=NEW_VALUE, expect_rc=FAILED_TASK)
    assert run.failed_tasks == ['Rotate']
    message = run.task('Rotate')['msg']
    assert message == 'Failed to rotate secret prod/nope: it does not exist (no secret named prod/nope in this account and region)'
    assert NEW_VALUE not in run.output
