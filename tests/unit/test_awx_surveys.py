"""The AWX definitions in awx/ against the playbooks and the role argument specs.

The survey checks below read the argument specs themselves and have their own
type table: they do not trust the generator's (tests/setup/awx_templates.py)
mapping, only its discovery of which roles a playbook calls.
"""

import json
import re

import pytest
import yaml

from tests.setup import awx_templates as gen

REPO = gen.REPO
CATALOG = gen.load_yaml(REPO / 'awx' / 'catalog.yml')
TEMPLATES = gen.load_yaml(REPO / 'awx' / 'job_templates.yml')['awx_job_templates']
BY_PLAYBOOK = {t['playbook'].removeprefix('playbooks/').removesuffix('.yml'): t for t in TEMPLATES}
SPECS = gen.role_specs()
# Argument spec type -> AWX survey type; no_log options are password questions
# and options with choices (or bool) multiple choice, whatever their type.
SURVEY_TYPE = {'str': 'text', 'path': 'text', 'raw': 'text', 'int': 'integer', 'float': 'float',
               'list': 'textarea', 'dict': 'textarea'}
QUESTION_KEYS = {'variable', 'question_name', 'question_description', 'required', 'type', 'default', 'choices'}
AWX_TYPES = {'text', 'textarea', 'password', 'integer', 'float', 'multiplechoice', 'multiselect'}


def all_role_options():
    """{option: [(role, entry point, spec)]} over every role's argument specs."""
    options = {}
    for role, entries in SPECS.items():
        for entry, opts in entries.items():
            for name, spec in opts.items():
                options.setdefault(name, []).append((role, entry, spec))
    return options


ROLE_OPTIONS = all_role_options()


def test_generated_file_is_up_to_date():
    assert gen.main(['--check']) == 0, 'awx/job_templates.yml is stale: run `python -m tests.setup.awx_templates`'


def test_every_launchable_playbook_has_a_template_and_nothing_else():
    playbooks = set(gen.playbooks())
    expected = playbooks - set(CATALOG['not_templated'])
    assert set(BY_PLAYBOOK) == expected
    for name in ('rollback', 'restart', 'scale', 'health_gate', 'diagnose', 'crash_loop', 'high_error_rate', 'high_latency',
                 'memory_leak', 'pod_eviction', 'api_down', 'data_loss', 'node_drain', 'node_drain_upgrade',
                 'maintenance_window', 'rotate_secret', 'db_backup', 'db_pitr_restore', 'db_cutover'):
        assert name in BY_PLAYBOOK, name
    assert all((REPO / t['playbook']).is_file() for t in TEMPLATES)
    assert len({t['name'] for t in TEMPLATES}) == len(TEMPLATES)


def test_catalog_names_existing_playbooks():
    playbooks = set(gen.playbooks())
    assert set(CATALOG['templates']) <= playbooks, set(CATALOG['templates']) - playbooks
    assert set(CATALOG['not_templated']) <= playbooks


@pytest.mark.parametrize('template', TEMPLATES, ids=lambda t: t['name'])
def test_survey_schema(template):
    survey = template['survey_spec']
    assert template['survey_enabled'] is True and survey['name'] and isinstance(survey['spec'], list)
    variables = [q['variable'] for q in survey['spec']]
    assert len(variables) == len(set(variables)), 'a variable is asked twice'
    for q in survey['spec']:
        assert set(q) <= QUESTION_KEYS, set(q) - QUESTION_KEYS
        assert q['type'] in AWX_TYPES and isinstance(q['required'], bool)
        assert re.fullmatch(r'[A-Za-z_][A-Za-z0-9_]*', q['variable']) and not q['variable'].startswith('_')
        assert 0 < len(q['question_name']) <= 200
        if q['type'] == 'multiplechoice':
            assert q['choices'] and all(isinstance(c, str) for c in q['choices'])
            assert 'default' not in q or q['default'] in q['choices']
        if q['type'] == 'integer' and 'default' in q:
            assert isinstance(q['default'], int) and not isinstance(q['default'], bool)
        if q['type'] == 'textarea' and 'default' in q:
            json.loads(q['default'])
        if q['type'] == 'password':
            assert 'default' not in q, 'a password question carries no default'


def _expected_question(spec):
    """What a question made from this argument spec entry must look like (type, choices, default)."""
    kind = spec.get('type', 'str')
    if spec.get('no_log'):
        return 'password', None, None
    if kind == 'bool':
        default = None if spec.get('default') is None else str(spec['default']).lower()
        return 'multiplechoice', ['true', 'false'], default
    if spec.get('choices'):
        return 'multiplechoice', [str(c) for c in spec['choices']], None if spec.get('default') is None else str(spec['default'])
    default = spec.get('default')
    if default is not None and kind in ('list', 'dict'):
        default = json.loads(json.dumps(default))
    return SURVEY_TYPE[kind], None, default


def _check_question(q, spec, where):
    kind, choices, default = _expected_question(spec)
    assert q['type'] == kind, '%s: %s is %s, the spec says %s' % (where, q['variable'], q['type'], spec.get('type', 'str'))
    if choices is not None and q['variable'] != 'workload_kind':  # workload_kind: the kinds every role it reaches accepts
        assert q['choices'] == choices, where
    actual = q.get('default')
    if kind == 'textarea' and actual is not None:
        actual = json.loads(actual)
    if kind in ('text', 'multiplechoice') and default is not None:
        default = str(default)
    assert actual == default, '%s: default of %s is %r, the spec says %r' % (where, q['variable'], actual, default)


@pytest.mark.parametrize('playbook', sorted(BY_PLAYBOOK))
def test_survey_matches_the_argument_specs(playbook):
    """Same names, types, required fields and defaults as the argument specs of the roles the playbook calls."""
    calls, play_vars = gen.all_calls(REPO / 'playbooks' / (playbook + '.yml'), SPECS)
    # An entry point without a spec of its own is checked against main's, as the generator does.
    called = {(call.role, entry if entry in SPECS[call.role] else 'main') for call in calls for entry in call.entries}
    bindings = {}  # variable -> [(role, option)] it is passed into
    bound = set()
    for call in calls:
        bound.update(call.bound)
        for option, value in call.bound.items():
            match = gen.PASS_THROUGH.match(value) if isinstance(value, str) else None
            if match:
                bindings.setdefault(match.group(1), []).append((call.role, option, bool(match.group(2))))
    declared = dict(CATALOG['templates'].get(playbook, {}).get('inputs') or {})
    for set_name in CATALOG['templates'].get(playbook, {}).get('input_sets') or []:
        declared = dict(CATALOG['input_sets'][set_name], **declared)
    source = '\n'.join(p.read_text(encoding='utf-8') for p in [REPO / 'playbooks' / (playbook + '.yml')]
                       + sorted((REPO / 'playbooks' / 'tasks').glob('*.yml')))
    for q in BY_PLAYBOOK[playbook]['survey_spec']['spec']:
        name, where = q['variable'], 'playbooks/%s.yml' % playbook
        owners = [(role, entry, spec) for role, entry, spec in ROLE_OPTIONS.get(name, []) if (role, entry) in called]
        if owners:
            # An option of a role entry point the playbook calls, not wired by the playbook itself.
            assert name not in bound, '%s: %s is set by the playbook, an extra var would override it' % (where, name)
            role, entry, spec = owners[0]
            spec = dict(spec)
            if name in play_vars:
                spec['default'] = play_vars[name]
                spec['required'] = False
            _check_question(q, spec, where)
            required = spec.get('required', False)
            if len({e for r, e, _spec in owners if r == role}) > 1:  # alternative entry points: required when required in all
                required = all(s.get('required', False) for _role, _entry, s in owners)
            assert q['required'] == required, '%s: %s required=%s, the spec of %s says %s' % (where, name, q['required'], role, required)
        elif name in bindings:
            # The playbook passes it into role options: it must have their type.
            for role, option, omitted in bindings[name]:
                spec = next(s for r, e, s in ROLE_OPTIONS[option] if r == role)
                kind, choices, _default = _expected_question(spec)
                assert q['type'] == kind, '%s: %s is passed as %s.%s (%s)' % (where, name, role, option, spec.get('type', 'str'))
                if choices:
                    assert set(q['choices']) <= set(choices), (name, option)
            required = any(SPECS[r]['main'].get(o, {}).get('required') and not omitted for r, o, omitted in bindings[name]) \
                and name not in play_vars
            assert q['required'] == required, '%s: %s' % (where, name)
            if name in play_vars:
                assert str(q.get('default')) == str(play_vars[name]), (name, q.get('default'), play_vars[name])
        elif name in declared:
            assert re.search(r'\b%s\b' % re.escape(name), source), '%s does not use the declared input %s' % (where, name)
            _check_question(q, declared[name], where)
            assert q['required'] == bool(declared[name].get('required'))
        else:
            # A public play var: the playbook's own tunable, typed by its value.
            assert name in play_vars, '%s: the survey sets %s, which the playbook and its roles do not accept' % (where, name)
            value = play_vars[name]
            kind = 'multiplechoice' if isinstance(value, bool) else SURVEY_TYPE[gen._spec_of_value(value)['type']]
            assert q['type'] == kind and q['required'] is False, (where, name)


@pytest.mark.parametrize('playbook', sorted(BY_PLAYBOOK))
def test_every_required_input_is_asked(playbook):
    inputs = gen.accepted_inputs(playbook, CATALOG)
    asked = {q['variable'] for q in BY_PLAYBOOK[playbook]['survey_spec']['spec']}
    assert {name for name, spec in inputs.items() if spec.get('required')} <= asked


def test_no_log_options_are_password_questions():
    secrets = {name for name, owners in ROLE_OPTIONS.items() if any(spec.get('no_log') for _role, _entry, spec in owners)}
    for template in TEMPLATES:
        for q in template['survey_spec']['spec']:
            if q['variable'] in secrets or q['variable'].endswith('_password') or q['variable'].endswith('_token'):
                assert q['type'] == 'password', (template['name'], q['variable'])
    asked = {q['variable'] for t in TEMPLATES for q in t['survey_spec']['spec'] if q['type'] == 'password'}
    assert {'health_gate_prometheus_token', 'secret_rotation_value', 'pg_login_password'} <= asked


def test_scenario_surveys_ask_the_workload():
    for playbook in ('crash_loop', 'high_error_rate', 'high_latency', 'memory_leak', 'api_down'):
        spec = {q['variable']: q for q in BY_PLAYBOOK[playbook]['survey_spec']['spec']}
        assert spec['workload_name']['required'] and spec['workload_namespace']['required']
        assert spec['workload_kind']['default'] == 'Deployment'
    rollback = {q['variable']: q for q in BY_PLAYBOOK['rollback']['survey_spec']['spec']}
    assert rollback['rollback_name']['required'] and rollback['rollback_to_revision']['type'] == 'integer'
    assert rollback['rollback_on_gate_failure']['choices'] == ['stop', 'further', 'page']


def test_workflows_and_schedules_reference_templates_and_accepted_vars():
    for workflow in CATALOG['workflows']:
        identifiers = {node['identifier'] for node in workflow['nodes']}
        assert workflow['survey_from'] in BY_PLAYBOOK
        for node in workflow['nodes']:
            assert node['template'] in BY_PLAYBOOK, node
            for link in ('success', 'failure', 'always'):
                assert set(node.get(link, [])) <= identifiers, node
            inputs = gen.accepted_inputs(node['template'], CATALOG)
            assert set(node.get('extra_data', {})) <= set(inputs), (node['identifier'], set(node.get('extra_data', {})) - set(inputs))
        assert [n['identifier'] for n in workflow['nodes']] == ['diagnose', 'remediate', 'verify', 'notify']
    for schedule in CATALOG['schedules']:
        assert schedule['template'] == 'maintenance_window' and schedule['template'] in BY_PLAYBOOK
        assert re.match(r'DTSTART;TZID=UTC:\d{8}T\d{6} RRULE:FREQ=WEEKLY;', schedule['rrule'])
        assert set(schedule.get('extra_data', {})) <= set(gen.accepted_inputs('maintenance_window', CATALOG))
        plan = schedule['extra_data'].get('maintenance_plan_file')
        assert plan is None or (REPO / plan).is_file()


def test_catalog_asking_an_unknown_variable_is_refused():
    catalog = yaml.safe_load(yaml.safe_dump(CATALOG))
    catalog['templates']['rollback']['questions'].append('rollback_nonsense')
    with pytest.raises(gen.DefinitionError, match='rollback_nonsense'):
        gen.job_templates(catalog)


def test_bindings_take_the_role_option_spec():
    inputs = gen.accepted_inputs('crash_loop', CATALOG)
    assert inputs['workload_name']['required'] and inputs['workload_name']['origin'].startswith('binding')
    assert inputs['workload_kind']['default'] == 'Deployment' and not inputs['workload_kind']['required']
    # Wired by the playbook: an extra var would override the wiring, so it is not offered.
    assert 'rollback_name' not in inputs and 'restart_namespace' not in inputs
    pod_eviction = gen.accepted_inputs('pod_eviction', CATALOG)
    assert not pod_eviction['workload_name']['required']  # passed with default(omit)
    assert pod_eviction['workload_namespace']['required']
    rotate = gen.accepted_inputs('rotate_secret', CATALOG)
    assert not rotate['secret_rotation_key']['required']  # not required by the rollback entry point
