"""kubesim.selectors: label and field selectors as kube-apiserver parses and matches them."""

import pytest

from tests.sandbox.kubesim.selectors import (
    LabelSelector, SelectorError, label_selector_from_set, label_selector_from_spec, parse_field_selector, parse_label_selector,
)

NAME_PART = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character "
             "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
POD_FIELDS = {'metadata.name', 'metadata.namespace', 'spec.nodeName', 'status.phase', 'spec.hostNetwork'}


# --- label selectors -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('text, labels, expected', [
    ('app=web', {'app': 'web'}, True),
    ('app=web', {'app': 'db'}, False),
    ('app=web', {}, False),
    ('app==web', {'app': 'web'}, True),
    ('app!=web', {'app': 'db'}, True),
    ('app!=web', {}, True),
    ('app!=web', {'app': 'web'}, False),
    ('tier in (front, back)', {'tier': 'back'}, True),
    ('tier in (front,back)', {'tier': 'db'}, False),
    ('tier in (front,back)', {}, False),
    ('tier notin (front,back)', {'tier': 'db'}, True),
    ('tier notin (front,back)', {}, True),
    ('tier notin (front,back)', {'tier': 'front'}, False),
    ('canary', {'canary': ''}, True),
    ('canary', {}, False),
    ('!canary', {}, True),
    ('!canary', {'canary': 'true'}, False),
    ('app.kubernetes.io/name=web,app.kubernetes.io/part-of=shop', {'app.kubernetes.io/name': 'web', 'app.kubernetes.io/part-of': 'shop'}, True),
    ('app.kubernetes.io/name=web,app.kubernetes.io/part-of=shop', {'app.kubernetes.io/name': 'web'}, False),
    ('  app = web ,  tier in ( front )  ', {'app': 'web', 'tier': 'front'}, True),
    ('empty=', {'empty': ''}, True),
    ('empty=', {}, False),
    ('in in (in, notin)', {'in': 'notin'}, True),
    ('replicas>2', {'replicas': '3'}, True),
    ('replicas>2', {'replicas': 'two'}, False),
    ('replicas<2', {'replicas': '1'}, True),
    ('', {'anything': 'x'}, True),
    ('', {}, True),
])
def test_label_selector_matches(text, labels, expected):
    assert parse_label_selector(text).matches(labels) is expected


def test_label_selector_keeps_the_requirements_sorted_and_prints_canonically():
    selector = parse_label_selector('tier in (front,back),app=web,!canary')
    assert [requirement.key for requirement in selector.requirements] == ['app', 'canary', 'tier']
    assert str(selector) == 'app=web,!canary,tier in (back,front)'
    assert parse_label_selector('').empty
    assert not selector.empty
    assert selector.matches(None) is False
    assert parse_label_selector('').matches(None) is True


@pytest.mark.parametrize('text, message', [
    ('app:web', 'unable to parse requirement: <nil>: Invalid value: "app:web": ' + NAME_PART),
    ('a b', "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ('app=web,', "found '', expected: identifier after ','"),
    ('app=web tier=front', "found 'tier', expected: ',' or 'end of string'"),
    ('=web', "found '=', expected: !, identifier, or 'end of string'"),
    ('tier in front', "unable to parse requirement: found 'front' expected: '('"),
    ('tier in (front', "unable to parse requirement: found '', expected: ',' or ')'"),
    ('app=!web', "unable to parse requirement: found '!', expected: identifier"),
    ('app=we$b', 'unable to parse requirement: values[0][app]: Invalid value: "we$b": a valid label must be an empty string or consist of'),
    ('a/b/c=d', 'unable to parse requirement: <nil>: Invalid value: "a/b/c": a qualified name must consist of'),
    ('Example.com/name=x', 'unable to parse requirement: <nil>: Invalid value: "Example.com/name": prefix part a lowercase RFC 1123 subdomain'),
    ('/name=x', 'unable to parse requirement: <nil>: Invalid value: "/name": prefix part must be non-empty'),
    ('app=' + 'x' * 64, 'unable to parse requirement: values[0][app]: Invalid value: "' + 'x' * 64 + '": must be no more than 63 characters'),
    ('replicas>two', "unable to parse requirement: values[0]: Invalid value: \"two\": for 'Gt', 'Lt' operators, the value must be an integer"),
])
def test_label_selector_errors_are_the_apiservers(text, message):
    with pytest.raises(SelectorError) as caught:
        parse_label_selector(text)
    assert str(caught.value).startswith(message)


def test_label_selector_error_for_a_key_is_exact():
    with pytest.raises(SelectorError) as caught:
        parse_label_selector('app:web')
    assert str(caught.value) == 'unable to parse requirement: <nil>: Invalid value: "app:web": ' + NAME_PART


def test_label_selector_from_spec():
    spec = {'matchLabels': {'app': 'web'},
            'matchExpressions': [{'key': 'tier', 'operator': 'In', 'values': ['front', 'edge']},
                                 {'key': 'env', 'operator': 'NotIn', 'values': ['dev']},
                                 {'key': 'owner', 'operator': 'Exists'},
                                 {'key': 'legacy', 'operator': 'DoesNotExist'}]}
    selector = label_selector_from_spec(spec)
    assert selector.matches({'app': 'web', 'tier': 'edge', 'owner': 'me'})
    assert not selector.matches({'app': 'web', 'tier': 'edge', 'owner': 'me', 'env': 'dev'})
    assert not selector.matches({'app': 'web', 'tier': 'edge', 'owner': 'me', 'legacy': 'y'})
    assert not selector.matches({'app': 'web', 'tier': 'edge'})
    assert not selector.matches({'app': 'db', 'tier': 'edge', 'owner': 'me'})
    assert str(selector) == 'app=web,env notin (dev),!legacy,owner,tier in (edge,front)'


def test_label_selector_from_spec_nil_matches_nothing_and_empty_everything():
    assert not label_selector_from_spec(None).matches({})
    assert not label_selector_from_spec(None).matches({'app': 'web'})
    assert not label_selector_from_spec(None).empty
    assert label_selector_from_spec({}).matches({'app': 'web'})
    assert label_selector_from_spec({'matchLabels': {}, 'matchExpressions': []}).matches({})
    assert label_selector_from_spec({}) == LabelSelector.everything()
    assert label_selector_from_spec(None) == LabelSelector.nothing()


@pytest.mark.parametrize('spec, message', [
    ({'matchExpressions': [{'key': 'a', 'operator': 'Equals', 'values': ['b']}]}, '"Equals" is not a valid label selector operator'),
    ({'matchExpressions': [{'key': 'a', 'operator': 'In', 'values': []}]},
     "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"),
    ({'matchExpressions': [{'key': 'a', 'operator': 'Exists', 'values': ['b']}]},
     'values: Invalid value: []string{"b"}: values set must be empty for exists and does not exist'),
    ({'matchLabels': {'a b': 'c'}}, 'key: Invalid value: "a b": ' + NAME_PART),
    ({'matchLabels': {'app': 'a b'}}, 'values[0][app]: Invalid value: "a b": a valid label must be'),
    ({'matchLabels': ['app']}, 'matchLabels must be an object'),
    ({'matchExpressions': [{'key': 'a', 'operator': 'In', 'values': 'b'}]}, 'the values of a matchExpressions requirement must be a list'),
])
def test_label_selector_from_spec_errors(spec, message):
    with pytest.raises(SelectorError) as caught:
        label_selector_from_spec(spec)
    assert str(caught.value).startswith(message)


def test_label_selector_from_set():
    selector = label_selector_from_set({'app': 'web', 'tier': 'front'})
    assert selector.matches({'app': 'web', 'tier': 'front', 'pod-template-hash': 'abc'})
    assert not selector.matches({'app': 'web'})
    assert str(selector) == 'app=web,tier=front'
    assert label_selector_from_set({}).matches({'app': 'x'})
    assert label_selector_from_set(None).empty


# --- field selectors -------------------------------------------------------------------------------------------------

def pod(name='web-1', node='node-a', phase='Running', **spec):
    return {'metadata': {'name': name, 'namespace': 'shop'}, 'spec': {'nodeName': node, **spec}, 'status': {'phase': phase}}


@pytest.mark.parametrize('text, obj, expected', [
    ('metadata.name=web-1', pod(), True),
    ('metadata.name==web-1', pod(), True),
    ('metadata.name!=web-1', pod(), False),
    ('metadata.name=web-2', pod(), False),
    ('spec.nodeName=node-a,status.phase=Running', pod(), True),
    ('spec.nodeName=node-a,status.phase!=Running', pod(), False),
    ('spec.nodeName=', pod(node=None), True),
    ('spec.nodeName!=', pod(node=None), False),
    ('spec.nodeName!=', pod(), True),
    ('status.phase=Pending', {'metadata': {'name': 'p'}}, False),
    ('spec.hostNetwork=true', pod(hostNetwork=True), True),
    ('spec.hostNetwork=false', pod(hostNetwork=False), True),
    ('spec.hostNetwork=false', pod(), True),
    ('', pod(), True),
])
def test_field_selector_matches(text, obj, expected):
    assert parse_field_selector(text, POD_FIELDS).matches(obj) is expected


def test_field_selector_reads_events_and_nodes():
    event = {'metadata': {'name': 'e'}, 'type': 'Warning', 'reason': 'BackOff',
             'involvedObject': {'kind': 'Pod', 'name': 'web-1', 'namespace': 'shop', 'uid': 'u-1'}, 'source': {'component': 'kubelet'}}
    fields = {'involvedObject.kind', 'involvedObject.name', 'involvedObject.namespace', 'involvedObject.uid', 'type', 'reason', 'source'}
    selector = parse_field_selector('involvedObject.kind=Pod,involvedObject.name=web-1,involvedObject.namespace=shop,involvedObject.uid=u-1,'
                                    'type=Warning,reason=BackOff,source=kubelet', fields)
    assert selector.matches(event)
    assert not parse_field_selector('type=Normal', fields).matches(event)
    assert parse_field_selector('source=my-controller', fields).matches({'reportingComponent': 'my-controller'})
    node_fields = {'spec.unschedulable'}
    assert parse_field_selector('spec.unschedulable=true', node_fields).matches({'spec': {'unschedulable': True}})
    assert parse_field_selector('spec.unschedulable=false', node_fields).matches({'spec': {}})
    assert not parse_field_selector('spec.unschedulable=false', node_fields).matches({'spec': {'unschedulable': True}})
    assert parse_field_selector('status.replicas=0', {'status.replicas'}).matches({'status': {}})
    assert parse_field_selector('status.replicas=3', {'status.replicas'}).matches({'status': {'replicas': 3}})


def test_field_selector_unsupported_field_message_is_exact():
    with pytest.raises(SelectorError) as caught:
        parse_field_selector('metadata.name=x,spec.foo=bar', POD_FIELDS)
    assert str(caught.value) == 'field label not supported: spec.foo'
    with pytest.raises(SelectorError) as caught:
        parse_field_selector('metadata.name = x', POD_FIELDS)
    assert str(caught.value) == 'field label not supported: metadata.name '


@pytest.mark.parametrize('text, message', [
    ('metadata.name', "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
    ('metadata.name=a,status.phase', "invalid selector: 'metadata.name=a,status.phase'; can't understand 'status.phase'"),
    ('metadata.name=a=b', 'invalid field selector: unescaped character in value: ='),
    ('metadata.name=a\\b', 'invalid field selector: invalid escape sequence: \\b'),
    ('metadata.name=a\\', 'invalid field selector: invalid escape sequence: \\'),
])
def test_field_selector_syntax_errors(text, message):
    with pytest.raises(SelectorError) as caught:
        parse_field_selector(text, POD_FIELDS)
    assert str(caught.value) == message


def test_field_selector_escapes_and_printing():
    selector = parse_field_selector('metadata.name=a\\,b\\=c\\\\d,metadata.namespace!=kube-system')
    assert selector.matches({'metadata': {'name': 'a,b=c\\d', 'namespace': 'shop'}})
    assert str(selector) == 'metadata.name=a\\,b\\=c\\\\d,metadata.namespace!=kube-system'
    assert parse_field_selector('').empty
    assert parse_field_selector('metadata.name=a,').requirements == parse_field_selector('metadata.name=a').requirements


def test_field_selector_single_name():
    assert parse_field_selector('metadata.name=web-1', POD_FIELDS).single_name() == 'web-1'
    assert parse_field_selector('metadata.name==web-1', POD_FIELDS).single_name() == 'web-1'
    assert parse_field_selector('metadata.name!=web-1', POD_FIELDS).single_name() is None
    assert parse_field_selector('metadata.name=web-1,status.phase=Running', POD_FIELDS).single_name() is None
    assert parse_field_selector('status.phase=Running', POD_FIELDS).single_name() is None
    assert parse_field_selector('', POD_FIELDS).single_name() is None
    selector = parse_field_selector('metadata.name=web-1,metadata.namespace=shop', POD_FIELDS)
    assert selector.requires_exact_match('metadata.namespace') == 'shop'
    assert selector.requires_exact_match('status.phase') is None
