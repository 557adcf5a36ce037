"""rds_pitr_restore against moto's RDS server: real ansible-playbook runs, the source instance made with boto3.

moto makes a restored instance available at once, so the wait ends at its first
read; the statuses real RDS walks through, failed restores and the timeout report
are covered by tests/unit/plugins/modules/test_rds_pitr_restore.py.
"""

import datetime
from pathlib import Path

import boto3
import yaml

from tests.integration.runner import run_playbook

SOURCE = 'orders-prod'
TARGET = 'orders-restore'
FAILED_TASK = 2  # ansible-playbook's exit status when a task failed


def rds_client():
    """boto3 in the test process, pointed at moto by the aws_env fixture."""
    return boto3.client('rds')


def make_source(rds, identifier=SOURCE, **overrides):
    args = dict(DBInstanceIdentifier=identifier, DBInstanceClass='db.t3.micro', Engine='postgres', MasterUsername='orders',
                MasterUserPassword='not-a-real-secret-1', AllocatedStorage=20, BackupRetentionPeriod=7)
    args.update(overrides)
    rds.create_db_instance(**args)
    return describe(rds, identifier)


def describe(rds, identifier):
    """The instance as describe_db_instances shows it, or None."""
    try:
        return rds.describe_db_instances(DBInstanceIdentifier=identifier)['DBInstances'][0]
    except rds.exceptions.DBInstanceNotFoundFault:
        return None


def identifiers(rds):
    return sorted(instance['DBInstanceIdentifier'] for instance in rds.describe_db_instances()['DBInstances'])


def tags(rds, instance):
    return {tag['Key']: tag['Value'] for tag in rds.list_tags_for_resource(ResourceName=instance['DBInstanceArn'])['TagList']}


def iso(value):
    """ISO 8601 in UTC as the module writes it: a Z, microseconds only when there are any."""
    value = value.astimezone(datetime.timezone.utc)
    return value.strftime('%Y-%m-%dT%H:%M:%S') + ('.%06d' % value.microsecond if value.microsecond else '') + 'Z'


def restore(tmp_path, check=False, diff=False, expect_rc=0, **args):
    """Run one sre.runbooks.rds_pitr_restore task; the region comes from the aws action group's module_defaults."""
    task_args = dict(source_db_instance_identifier=SOURCE, db_instance_identifier=TARGET, wait_timeout=120, wait_sleep=5)
    task_args.update(args)
    play = {'name': 'Point-in-time restore', 'hosts': 'localhost', 'gather_facts': False,
            'module_defaults': {'group/sre.runbooks.aws': {'region': 'us-east-1'}},
            'tasks': [{'name': 'Restore', 'register': 'out', 'sre.runbooks.rds_pitr_restore': task_args}]}
    path = Path(tmp_path) / ('restore-%d.yml' % len(list(Path(tmp_path).glob('restore-*.yml'))))
    path.write_text(yaml.safe_dump([play]), encoding='utf-8')
    return run_playbook(path, tmp_path, check=check, diff=diff, expect_rc=expect_rc)


def refused(run):
    assert run.failed_tasks == ['Restore']
    return run.task('Restore')['msg']


def test_check_mode_plans_the_restore_and_creates_nothing(aws_env, tmp_path):  # pylint: disable=unused-argument
    rds = rds_client()
    make_source(rds)
    result = restore(tmp_path, check=True, diff=True, use_latest_restorable_time=True).task('Restore')
    assert result['changed'] is True
    assert result['actions'] == ['restore orders-prod at its latest restorable time as the new DB instance orders-restore',
                                 'wait for orders-restore to be available, then verify it']
    assert result['status'] == 'absent' and result['verified'] is None
    assert result['diff']['before'] == {'db_instance_identifier': TARGET, 'status': 'absent'}
    assert identifiers(rds) == [SOURCE]


def test_restores_to_the_latest_time_returns_the_endpoint_and_a_second_run_changes_nothing(aws_env, tmp_path):  # pylint: disable=unused-argument
    rds = rds_client()
    source = make_source(rds)
    first = restore(tmp_path, use_latest_restorable_time=True, tags={'incident': 'INC-2291'}).task('Restore')
    assert first['changed'] is True and first['verified'] is True
    created = describe(rds, TARGET)
    assert created['DBInstanceStatus'] == 'available'
    assert first['endpoint']['address'] == created['Endpoint']['Address']
    assert first['endpoint']['port'] == created['Endpoint']['Port'] == source['Endpoint']['Port']
    assert first['instance']['db_instance_arn'] == created['DBInstanceArn']
    assert tags(rds, created) == {'incident': 'INC-2291', 'sre.runbooks/restored-from': SOURCE, 'sre.runbooks/restore-time': 'latest'}
    assert first['restore_time'] is None and first['use_latest_restorable_time'] is True
    assert first['restorable_window']['latest'] is not None

    second = restore(tmp_path, use_latest_restorable_time=True, tags={'incident': 'INC-2291'}).task('Restore')
    assert second['changed'] is False
    assert second['actions'] == []
    assert second['verified'] is True
    assert second['endpoint'] == first['endpoint']
    assert identifiers(rds) == [SOURCE, TARGET]
    assert describe(rds, TARGET)['InstanceCreateTime'] == created['InstanceCreateTime']


def test_restores_to_a_time_in_the_window_and_recognises_it_written_another_way(aws_env, tmp_path):  # pylint: disable=unused-argument
    rds = rds_client()
    source = make_source(rds)
    created, latest = source['InstanceCreateTime'], describe(rds, SOURCE)['LatestRestorableTime']
    wanted = created + (latest - created) / 2
    first = restore(tmp_path, restore_time=iso(wanted), port=6543, db_instance_class='db.t3.small').task('Restore')
    assert first['changed'] is True and first['verified'] is True
    assert first['restore_time'] == iso(wanted)
    restored = describe(rds, TARGET)
    assert tags(rds, restored)['sre.runbooks/restore-time'] == iso(wanted)
    assert (restored['Endpoint']['Port'], restored['DBInstanceClass']) == (6543, 'db.t3.small')
    assert first['endpoint']['port'] == 6543

    # The same instant with an offset instead of Z: the same restore.
    offset = wanted.astimezone(datetime.timezone(datetime.timedelta(hours=2))).isoformat()
    second = restore(tmp_path, restore_time=offset, port=6543, db_instance_class='db.t3.small').task('Restore')
    assert second['changed'] is False and second['actions'] == []

    # Another time into the same identifier is another restore: refused, the copy untouched.
    message = refused(restore(tmp_path, use_latest_restorable_time=True, expect_rc=FAILED_TASK))
    assert 'already exists (status available) and it is a restore of orders-prod at %s' % iso(wanted) in message
    assert describe(rds, TARGET)['InstanceCreateTime'] == restored['InstanceCreateTime']


def test_a_time_outside_the_window_is_refused_and_nothing_is_created(aws_env, tmp_path):  # pylint: disable=unused-argument
    rds = rds_client()
    source = make_source(rds)
    before = source['InstanceCreateTime'] - datetime.timedelta(hours=1)
    message = refused(restore(tmp_path, restore_time=iso(before), expect_rc=FAILED_TASK))
    assert message.startswith('Failed to restore RDS DB instance orders-restore from orders-prod at %s: ' % iso(before))
    assert 'is outside the restorable window of orders-prod: %s .. ' % iso(source['InstanceCreateTime']) in message
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    assert 'outside the restorable window' in refused(restore(tmp_path, restore_time=iso(future), expect_rc=FAILED_TASK))
    assert identifiers(rds) == [SOURCE]


def test_an_existing_instance_that_is_not_this_restore_is_refused_and_left_alone(aws_env, tmp_path):  # pylint: disable=unused-argument
    rds = rds_client()
    make_source(rds)
    foreign = make_source(rds, TARGET, Tags=[{'Key': 'team', 'Value': 'payments'}])
    message = refused(restore(tmp_path, use_latest_restorable_time=True, expect_rc=FAILED_TASK))
    assert 'the DB instance orders-restore already exists (status available) and it was not restored by sre.runbooks.rds_pitr_restore' in message
    after = describe(rds, TARGET)
    assert after['InstanceCreateTime'] == foreign['InstanceCreateTime']
    assert tags(rds, after) == {'team': 'payments'}


def test_refusals_before_anything_is_created(aws_env, tmp_path):  # pylint: disable=unused-argument
    rds = rds_client()
    make_source(rds)
    make_source(rds, 'orders-nobackup', BackupRetentionPeriod=0)

    both = refused(restore(tmp_path, restore_time='2026-01-01T00:00:00Z', use_latest_restorable_time=True, expect_rc=FAILED_TASK))
    assert 'restore_time and use_latest_restorable_time=true are mutually exclusive' in both
    itself = refused(restore(tmp_path, db_instance_identifier=SOURCE, use_latest_restorable_time=True, expect_rc=FAILED_TASK))
    assert 'not the source orders-prod itself' in itself
    missing = refused(restore(tmp_path, source_db_instance_identifier='orders-gone', use_latest_restorable_time=True, expect_rc=FAILED_TASK))
    assert 'the source DB instance orders-gone does not exist' in missing
    # moto would restore this one; real RDS refuses it (PointInTimeRestoreNotEnabled), and so does the module, first.
    no_backups = refused(restore(tmp_path, source_db_instance_identifier='orders-nobackup', use_latest_restorable_time=True, expect_rc=FAILED_TASK))
    assert 'automated backups turned off (BackupRetentionPeriod 0)' in no_backups
    assert identifiers(rds) == ['orders-nobackup', SOURCE]


def test_a_copy_of_a_public_source_is_never_left_public(aws_env, tmp_path):  # pylint: disable=unused-argument
    rds = rds_client()
    make_source(rds, PubliclyAccessible=True)
    run = restore(tmp_path, use_latest_restorable_time=True, expect_rc=None)
    left = describe(rds, TARGET)
    if run.returncode == 0:
        # RDS honours PubliclyAccessible=false: a private, verified copy.
        result = run.task('Restore')
        assert result['verified'] is True and result['instance']['publicly_accessible'] is False
        assert left['PubliclyAccessible'] is False
    else:
        # moto 5.2.5 keeps the source's PubliclyAccessible=true: verification catches it and deletes the copy.
        message = refused(run)
        assert 'its publicly_accessible is true, asked for false' in message
        assert 'being deleted without a final snapshot (cleanup_on_failure)' in message
        assert left is None or left['DBInstanceStatus'] == 'deleting'
