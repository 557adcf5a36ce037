"""kubesim.patch: the three PATCH content types as kube-apiserver applies them."""

import copy
import json

import pytest

from tests.sandbox.kubesim.patch import (
    PatchError, UnsupportedPatchType, apply_json_patch, apply_merge_patch, apply_patch, apply_strategic_merge_patch,
)


def deployment():
    """A Deployment with two containers, env, ports, volumes and a finalizer."""
    return {
        'apiVersion': 'apps/v1', 'kind': 'Deployment',
        'metadata': {'name': 'web', 'namespace': 'shop', 'labels': {'app': 'web'}, 'finalizers': ['a/one', 'a/two']},
        'spec': {
            'replicas': 2,
            'selector': {'matchLabels': {'app': 'web'}},
            'strategy': {'type': 'RollingUpdate', 'rollingUpdate': {'maxSurge': 1, 'maxUnavailable': 0}},
            'template': {
                'metadata': {'labels': {'app': 'web'}},
                'spec': {
                    'containers': [
                        {'name': 'web', 'image': 'nginx:1.24', 'args': ['--a', '--b'],
                         'env': [{'name': 'A', 'value': '1'}, {'name': 'B', 'value': '2'}],
                         'ports': [{'containerPort': 80, 'name': 'http'}],
                         'volumeMounts': [{'name': 'data', 'mountPath': '/data'}, {'name': 'tmp', 'mountPath': '/tmp'}]},
                        {'name': 'sidecar', 'image': 'envoy:1.0'},
                    ],
                    'volumes': [{'name': 'data', 'emptyDir': {}}, {'name': 'tmp', 'emptyDir': {}}],
                    'tolerations': [{'key': 'a', 'operator': 'Exists'}, {'key': 'b', 'operator': 'Exists'}],
                },
            },
        },
    }


def containers(doc):
    return doc['spec']['template']['spec']['containers']


def smp(doc, patch, kind='Deployment'):
    """Apply a strategic merge patch, checking that neither input is modified."""
    before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)
    result = apply_strategic_merge_patch(doc, patch, kind)
    assert doc == before
    assert patch == patch_before
    return result


# --- JSON patch ------------------------------------------------------------------------------------------------------

def test_json_patch_add_replace_remove():
    doc = {'metadata': {'labels': {'a': '1'}}, 'spec': {'items': ['x', 'y']}}
    result = apply_json_patch(doc, [
        {'op': 'add', 'path': '/metadata/labels/b', 'value': '2'},
        {'op': 'replace', 'path': '/metadata/labels/a', 'value': 'one'},
        {'op': 'add', 'path': '/spec/items/1', 'value': 'inserted'},
        {'op': 'add', 'path': '/spec/items/-', 'value': 'last'},
        {'op': 'remove', 'path': '/spec/items/0'},
    ])
    assert result == {'metadata': {'labels': {'a': 'one', 'b': '2'}}, 'spec': {'items': ['inserted', 'y', 'last']}}
    assert doc == {'metadata': {'labels': {'a': '1'}}, 'spec': {'items': ['x', 'y']}}


def test_json_patch_pointer_escapes():
    doc = {'metadata': {'annotations': {'example.com/a~b': 'old'}}}
    result = apply_json_patch(doc, [{'op': 'replace', 'path': '/metadata/annotations/example.com~1a~0b', 'value': 'new'}])
    assert result['metadata']['annotations'] == {'example.com/a~b': 'new'}
    result = apply_json_patch(doc, [{'op': 'add', 'path': '/metadata/annotations/~01', 'value': 'x'}])
    assert result['metadata']['annotations']['~1'] == 'x'


def test_json_patch_move_and_copy():
    doc = {'a': {'b': [1, 2]}, 'c': {}}
    result = apply_json_patch(doc, [{'op': 'copy', 'from': '/a/b', 'path': '/c/b'}, {'op': 'move', 'from': '/a/b/0', 'path': '/a/first'}])
    assert result == {'a': {'b': [2], 'first': 1}, 'c': {'b': [1, 2]}}
    assert doc == {'a': {'b': [1, 2]}, 'c': {}}


def test_json_patch_values_are_copied_not_shared():
    value = {'x': [1]}
    ops = [{'op': 'add', 'path': '/v', 'value': value}]
    result = apply_json_patch({}, ops)
    result['v']['x'].append(2)
    assert value == {'x': [1]}


def test_json_patch_test_operation():
    doc = {'spec': {'replicas': 3, 'paused': False, 'ports': [{'port': 80}]}}
    ops = [{'op': 'test', 'path': '/spec/replicas', 'value': 3.0}, {'op': 'test', 'path': '/spec/ports', 'value': [{'port': 80}]},
           {'op': 'replace', 'path': '/spec/replicas', 'value': 5}]
    assert apply_json_patch(doc, ops)['spec']['replicas'] == 5
    with pytest.raises(PatchError, match='^jsonpatch test operation does not apply: is not equal$'):
        apply_json_patch(doc, [{'op': 'test', 'path': '/spec/replicas', 'value': 4}])
    with pytest.raises(PatchError, match='is not equal'):
        apply_json_patch(doc, [{'op': 'test', 'path': '/spec/paused', 'value': 0}])


@pytest.mark.parametrize('operation, message', [
    ({'op': 'remove', 'path': '/spec/foo'}, 'jsonpatch remove operation does not apply: doc is missing path: /spec/foo'),
    ({'op': 'replace', 'path': '/spec/foo', 'value': 1}, 'jsonpatch replace operation does not apply: doc is missing path: /spec/foo'),
    ({'op': 'add', 'path': '/nope/foo', 'value': 1}, 'jsonpatch add operation does not apply: doc is missing path: /nope/foo'),
    ({'op': 'add', 'path': '/spec/list/5', 'value': 1}, 'jsonpatch add operation does not apply: index out of range: /spec/list/5'),
    ({'op': 'add', 'path': '/spec/list/01', 'value': 1}, 'jsonpatch add operation does not apply: index out of range: /spec/list/01'),
    ({'op': 'remove', 'path': '/spec/list/-'}, 'jsonpatch remove operation does not apply: doc is missing path: /spec/list/-'),
    ({'op': 'move', 'from': '/spec/gone', 'path': '/x'}, 'jsonpatch move operation does not apply: doc is missing from path: /spec/gone'),
    ({'op': 'copy', 'from': '/spec/gone', 'path': '/x'}, 'jsonpatch copy operation does not apply: doc is missing from path: /spec/gone'),
    ({'op': 'move', 'from': '/spec', 'path': '/spec/inner'}, 'jsonpatch move operation does not apply: cannot move /spec into its own child /spec/inner'),
    ({'op': 'test', 'path': '/spec/gone', 'value': 1}, 'jsonpatch test operation does not apply: doc is missing path: /spec/gone'),
    ({'op': 'add', 'path': '/x'}, 'jsonpatch add operation is missing the value field'),
    ({'op': 'move', 'path': '/x'}, 'jsonpatch move operation is missing the from field'),
    ({'op': 'remove'}, 'jsonpatch remove operation is missing the path field'),
    ({'op': 'add', 'path': 'spec', 'value': 1}, 'jsonpatch add operation does not apply: invalid JSON pointer "spec" in path'),
    ({'op': 'frobnicate', 'path': '/x'}, 'jsonpatch: unknown operation "frobnicate"'),
    ({'op': 'remove', 'path': ''}, 'jsonpatch remove operation does not apply: cannot remove the whole document'),
])
def test_json_patch_errors(operation, message):
    with pytest.raises(PatchError) as caught:
        apply_json_patch({'spec': {'list': [1, 2]}}, [operation])
    assert str(caught.value).startswith(message)


def test_json_patch_body_must_be_a_list_and_leave_an_object():
    with pytest.raises(PatchError, match='JSON array'):
        apply_json_patch({}, {'op': 'add'})
    with pytest.raises(PatchError, match='JSON object'):
        apply_json_patch({}, ['add'])
    with pytest.raises(PatchError, match='does not leave a JSON object'):
        apply_json_patch({}, [{'op': 'replace', 'path': '', 'value': [1]}])
    assert apply_json_patch({'a': 1}, [{'op': 'replace', 'path': '', 'value': {'b': 2}}]) == {'b': 2}


def test_json_patch_failure_leaves_the_input_alone():
    doc = {'a': [1, 2]}
    with pytest.raises(PatchError):
        apply_json_patch(doc, [{'op': 'remove', 'path': '/a/0'}, {'op': 'remove', 'path': '/b'}])
    assert doc == {'a': [1, 2]}


# --- merge patch -----------------------------------------------------------------------------------------------------

def test_merge_patch_nulls_delete_objects_merge_the_rest_replaces():
    doc = {'metadata': {'labels': {'a': '1', 'b': '2'}}, 'spec': {'list': [1, 2], 'keep': True}}
    patch = {'metadata': {'labels': {'a': None, 'c': '3'}}, 'spec': {'list': [3]}, 'status': {'x': None, 'y': {'z': None, 'w': 1}}}
    result = apply_merge_patch(doc, patch)
    assert result == {'metadata': {'labels': {'b': '2', 'c': '3'}}, 'spec': {'list': [3], 'keep': True}, 'status': {'y': {'w': 1}}}
    assert doc['metadata']['labels'] == {'a': '1', 'b': '2'}


def test_merge_patch_replaces_a_non_object_with_an_object_and_rejects_non_objects():
    assert apply_merge_patch({'a': 'text'}, {'a': {'b': 1}}) == {'a': {'b': 1}}
    assert apply_merge_patch({'a': {'b': 1}}, {'a': [1]}) == {'a': [1]}
    with pytest.raises(PatchError, match='merge patch must be a JSON object'):
        apply_merge_patch({}, [1])


# --- strategic merge patch -------------------------------------------------------------------------------------------

def test_smp_set_image_keeps_other_containers_and_fields():
    result = smp(deployment(), {'spec': {'template': {'spec': {'containers': [{'name': 'web', 'image': 'nginx:1.25'}]}}}})
    web, sidecar = containers(result)
    assert web['image'] == 'nginx:1.25'
    assert web['env'] == deployment()['spec']['template']['spec']['containers'][0]['env']
    assert web['ports'] == [{'containerPort': 80, 'name': 'http'}]
    assert sidecar == {'name': 'sidecar', 'image': 'envoy:1.0'}


def test_smp_patching_the_second_container_keeps_the_order():
    result = smp(deployment(), {'spec': {'template': {'spec': {'containers': [{'name': 'sidecar', 'image': 'envoy:2.0'}]}}}})
    assert [(c['name'], c['image']) for c in containers(result)] == [('web', 'nginx:1.24'), ('sidecar', 'envoy:2.0')]


def test_smp_a_new_item_without_set_element_order_goes_first_as_in_the_apiserver():
    result = smp(deployment(), {'spec': {'template': {'spec': {'containers': [{'name': 'debug', 'image': 'busybox'}]}}}})
    assert [c['name'] for c in containers(result)] == ['debug', 'web', 'sidecar']


def test_smp_env_merges_by_name_and_set_element_order_orders_it():
    patch = {'spec': {'template': {'spec': {'containers': [{
        'name': 'web',
        '$setElementOrder/env': [{'name': 'C'}, {'name': 'A'}, {'name': 'B'}],
        'env': [{'name': 'C', 'value': '3'}, {'name': 'A', 'value': 'one'}],
    }]}}}}
    web = containers(smp(deployment(), patch))[0]
    assert web['env'] == [{'name': 'C', 'value': '3'}, {'name': 'A', 'value': 'one'}, {'name': 'B', 'value': '2'}]


def test_smp_set_element_order_interleaves_server_only_items_where_they_were():
    doc = {'spec': {'containers': [{'name': 'a'}, {'name': 'injected'}, {'name': 'b'}]}}
    patch = {'spec': {'$setElementOrder/containers': [{'name': 'a'}, {'name': 'b'}, {'name': 'c'}], 'containers': [{'name': 'c', 'image': 'x'}]}}
    result = smp(doc, patch, 'Pod')
    assert [c['name'] for c in result['spec']['containers']] == ['a', 'injected', 'b', 'c']
    # reordered: the server-only item still goes before the first patch item that came after it in the live list
    patch['spec']['$setElementOrder/containers'] = [{'name': 'b'}, {'name': 'a'}, {'name': 'c'}]
    assert [c['name'] for c in smp(doc, patch, 'Pod')['spec']['containers']] == ['injected', 'b', 'a', 'c']


def test_smp_set_element_order_must_agree_with_the_patch_list():
    patch = {'spec': {'$setElementOrder/containers': [{'name': 'a'}, {'name': 'b'}], 'containers': [{'name': 'b'}, {'name': 'a'}]}}
    with pytest.raises(PatchError, match="doesn't match \\$setElementOrder list"):
        smp({'spec': {'containers': [{'name': 'a'}, {'name': 'b'}]}}, patch, 'Pod')


def test_smp_delete_directive_removes_a_container():
    patch = {'spec': {'template': {'spec': {'containers': [{'name': 'sidecar', '$patch': 'delete'}]}}}}
    assert [c['name'] for c in containers(smp(deployment(), patch))] == ['web']


def test_smp_replace_directive_on_a_map():
    patch = {'spec': {'template': {'metadata': {'labels': {'$patch': 'replace', 'app': 'web', 'track': 'canary'}}}}}
    result = smp(deployment(), patch)
    assert result['spec']['template']['metadata']['labels'] == {'app': 'web', 'track': 'canary'}
    patch = {'spec': {'strategy': {'$patch': 'replace', 'type': 'Recreate'}}}
    assert smp(deployment(), patch)['spec']['strategy'] == {'type': 'Recreate'}


def test_smp_replace_directive_on_a_list():
    patch = {'spec': {'template': {'spec': {'containers': [{'$patch': 'replace'}, {'name': 'only', 'image': 'busybox'}]}}}}
    assert containers(smp(deployment(), patch)) == [{'name': 'only', 'image': 'busybox'}]


def test_smp_delete_directive_on_a_map_empties_it_as_the_apiserver_does():
    patch = {'spec': {'strategy': {'rollingUpdate': {'$patch': 'delete'}}}}
    assert smp(deployment(), patch)['spec']['strategy'] == {'type': 'RollingUpdate', 'rollingUpdate': {}}


def test_smp_retain_keys_drops_unlisted_members():
    patch = {'spec': {'strategy': {'$retainKeys': ['type'], 'type': 'Recreate', 'rollingUpdate': None}}}
    assert smp(deployment(), patch)['spec']['strategy'] == {'type': 'Recreate'}
    patch = {'spec': {'template': {'spec': {'volumes': [{'name': 'data', '$retainKeys': ['name', 'configMap'], 'configMap': {'name': 'cfg'}}]}}}}
    volumes = smp(deployment(), patch)['spec']['template']['spec']['volumes']
    assert volumes == [{'name': 'data', 'configMap': {'name': 'cfg'}}, {'name': 'tmp', 'emptyDir': {}}]


def test_smp_retain_keys_must_list_what_the_patch_sets():
    patch = {'spec': {'strategy': {'$retainKeys': ['type'], 'type': 'Recreate', 'rollingUpdate': {'maxSurge': 2}}}}
    with pytest.raises(PatchError, match='^invalid patch format of retainKeys$'):
        smp(deployment(), patch)


def test_smp_delete_from_primitive_list_and_merged_finalizers():
    result = smp(deployment(), {'metadata': {'$deleteFromPrimitiveList/finalizers': ['a/one']}})
    assert result['metadata']['finalizers'] == ['a/two']
    result = smp(deployment(), {'metadata': {'finalizers': ['a/two', 'b/three']}})
    assert result['metadata']['finalizers'] == ['a/one', 'a/two', 'b/three']
    ordered = smp(deployment(), {'metadata': {'$setElementOrder/finalizers': ['a/two', 'a/one'], '$deleteFromPrimitiveList/finalizers': ['a/two']}})
    assert ordered['metadata']['finalizers'] == ['a/one']


def test_smp_volume_mounts_merge_by_mount_path():
    patch = {'spec': {'template': {'spec': {'containers': [{'name': 'web', 'volumeMounts': [{'mountPath': '/tmp', 'name': 'scratch'}]}]}}}}
    mounts = containers(smp(deployment(), patch))[0]['volumeMounts']
    assert mounts == [{'name': 'data', 'mountPath': '/data'}, {'name': 'scratch', 'mountPath': '/tmp'}]


def test_smp_container_ports_merge_by_container_port():
    patch = {'spec': {'template': {'spec': {'containers': [{'name': 'web', 'ports': [{'containerPort': 80, 'protocol': 'TCP'}]}]}}}}
    assert containers(smp(deployment(), patch))[0]['ports'] == [{'containerPort': 80, 'name': 'http', 'protocol': 'TCP'}]


def test_smp_service_ports_merge_by_port():
    ports = [{'name': 'http', 'port': 80, 'targetPort': 8080}, {'name': 'https', 'port': 443, 'targetPort': 8443}]
    service = {'kind': 'Service', 'spec': {'selector': {'app': 'web'}, 'ports': ports}}
    result = smp(service, {'spec': {'ports': [{'port': 443, 'targetPort': 9443}]}}, 'Service')
    assert result['spec']['ports'] == [{'name': 'http', 'port': 80, 'targetPort': 8080}, {'name': 'https', 'port': 443, 'targetPort': 9443}]


def test_smp_merge_keys_are_path_aware():
    # ports of a Pod's container merge by containerPort; the same list under an unknown kind is atomic
    pod = {'spec': {'containers': [{'name': 'c', 'ports': [{'containerPort': 80}, {'containerPort': 81}]}]}}
    patch = {'spec': {'containers': [{'name': 'c', 'ports': [{'containerPort': 81, 'name': 'metrics'}]}]}}
    assert smp(pod, patch, 'Pod')['spec']['containers'][0]['ports'] == [{'containerPort': 80}, {'containerPort': 81, 'name': 'metrics'}]
    assert smp(pod, patch, 'Widget')['spec']['containers'] == [{'name': 'c', 'ports': [{'containerPort': 81, 'name': 'metrics'}]}]


def test_smp_cronjob_pod_template():
    cronjob = {'spec': {'jobTemplate': {'spec': {'template': {'spec': {'containers': [{'name': 'a', 'image': 'x'}, {'name': 'b', 'image': 'y'}]}}}}}}
    patch = {'spec': {'jobTemplate': {'spec': {'template': {'spec': {'containers': [{'name': 'b', 'image': 'z'}]}}}}}}
    result = smp(cronjob, patch, 'CronJob')
    assert result['spec']['jobTemplate']['spec']['template']['spec']['containers'] == [{'name': 'a', 'image': 'x'}, {'name': 'b', 'image': 'z'}]


def test_smp_node_and_pod_status_conditions_merge_by_type():
    node = {'status': {'conditions': [{'type': 'Ready', 'status': 'True'}, {'type': 'DiskPressure', 'status': 'False'}]}}
    result = smp(node, {'status': {'conditions': [{'type': 'Ready', 'status': 'False', 'reason': 'KubeletDown'}]}}, 'Node')
    assert result['status']['conditions'] == [{'type': 'Ready', 'status': 'False', 'reason': 'KubeletDown'}, {'type': 'DiskPressure', 'status': 'False'}]


def test_smp_scalar_and_unknown_lists_are_replaced():
    patch = {'spec': {'template': {'spec': {'containers': [{'name': 'web', 'args': ['--c']}], 'tolerations': [{'key': 'c', 'operator': 'Exists'}]}}}}
    result = smp(deployment(), patch)
    assert containers(result)[0]['args'] == ['--c']
    assert result['spec']['template']['spec']['tolerations'] == [{'key': 'c', 'operator': 'Exists'}]


def test_smp_nulls_delete_and_are_not_stored():
    patch = {'metadata': {'labels': {'app': None, 'new': None}}, 'spec': {'strategy': None, 'paused': None, 'extra': {'a': None, 'b': 1}}}
    result = smp(deployment(), patch)
    assert result['metadata']['labels'] == {}
    assert 'strategy' not in result['spec'] and 'paused' not in result['spec']
    assert result['spec']['extra'] == {'b': 1}


def test_smp_rollout_restart_patch():
    patch = {'spec': {'template': {'metadata': {'annotations': {'kubectl.kubernetes.io/restartedAt': '2024-05-01T10:00:00Z'}}}}}
    result = smp(deployment(), patch)
    assert result['spec']['template']['metadata'] == {'labels': {'app': 'web'}, 'annotations': {'kubectl.kubernetes.io/restartedAt': '2024-05-01T10:00:00Z'}}
    assert result['spec']['template']['spec'] == deployment()['spec']['template']['spec']


def test_smp_kubectl_apply_three_way_patch():
    live = deployment()
    live['spec']['template']['spec']['containers'].append({'name': 'istio-proxy', 'image': 'istio:1'})  # injected by the server
    applied = {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'web'}}
    patch = {
        'metadata': {'annotations': {'kubectl.kubernetes.io/last-applied-configuration': json.dumps(applied) + '\n'}},
        'spec': {
            'replicas': 3,
            'template': {'spec': {
                '$setElementOrder/containers': [{'name': 'web'}, {'name': 'metrics'}],
                'containers': [
                    {'name': 'web', 'image': 'nginx:1.25', '$setElementOrder/env': [{'name': 'A'}, {'name': 'C'}],
                     'env': [{'name': 'C', 'value': '3'}, {'name': 'B', '$patch': 'delete'}]},
                    {'name': 'metrics', 'image': 'exporter:1'},
                    {'name': 'sidecar', '$patch': 'delete'},
                ],
            }},
        },
    }
    result = smp(live, patch)
    assert result['metadata']['annotations'] == {'kubectl.kubernetes.io/last-applied-configuration': json.dumps(applied) + '\n'}
    assert result['spec']['replicas'] == 3
    assert [c['name'] for c in containers(result)] == ['web', 'metrics', 'istio-proxy']
    web = containers(result)[0]
    assert web['image'] == 'nginx:1.25'
    assert web['env'] == [{'name': 'A', 'value': '1'}, {'name': 'C', 'value': '3'}]
    assert web['ports'] == [{'containerPort': 80, 'name': 'http'}]
    assert containers(result)[1] == {'name': 'metrics', 'image': 'exporter:1'}


def test_smp_new_values_are_merged_not_stored_with_their_directives():
    doc = {'metadata': {'name': 'p'}}
    patch = {'spec': {'containers': [{'name': 'a', 'image': 'x', 'env': [{'name': 'E', 'value': None}]}, {'name': 'gone', '$patch': 'delete'}]}}
    assert smp(doc, patch, 'Pod')['spec'] == {'containers': [{'name': 'a', 'image': 'x', 'env': [{'name': 'E'}]}]}


def test_smp_result_shares_nothing_with_the_inputs():
    doc = deployment()
    patch = {'spec': {'template': {'spec': {'containers': [{'name': 'new', 'args': ['x']}]}}}}
    result = smp(doc, patch)
    containers(result)[0]['args'].append('y')
    containers(result)[1]['env'].append({'name': 'Z'})
    assert patch['spec']['template']['spec']['containers'][0]['args'] == ['x']
    assert doc == deployment()


@pytest.mark.parametrize('patch, message', [
    ({'spec': {'$patch': 'frobnicate'}}, 'unknown patch type: frobnicate in map'),
    ({'spec': {'template': {'spec': {'containers': [{'name': 'web', '$patch': 'explode'}]}}}}, 'unknown patch type: explode in map'),
    ({'spec': {'template': {'spec': {'containers': [{'$patch': 'merge'}]}}}}, 'merging lists cannot yet be specified in the patch'),
    ({'spec': {'$frobnicate': 1}}, 'unknown strategic merge patch directive "$frobnicate"'),
    ({'spec': {'template': {'spec': {'containers': [{'image': 'x'}]}}}}, 'does not contain declared merge key: name'),
    ({'spec': {'template': {'spec': {'containers': [{'$patch': 'delete'}]}}}}, 'does not contain declared merge key: name'),
    ({'spec': {'$retainKeys': 'type'}}, 'invalid patch format of retainKeys'),
    ({'metadata': {'$deleteFromPrimitiveList/finalizers': 'a/one'}}, 'invalid patch format of primitive list'),
    ({'metadata': {'$deleteFromPrimitiveListfinalizers': ['a/one']}}, 'invalid patch format of primitive list'),
    ({'spec': {'$setElementOrder/x': 'a'}}, 'invalid patch format of setElementOrder list'),
    ({'metadata': {'finalizers': ['a', 1]}}, 'list element types are not identical'),
])
def test_smp_errors(patch, message):
    with pytest.raises(PatchError) as caught:
        smp(deployment(), patch)
    assert message in str(caught.value)


def test_smp_patch_merge_directive_in_a_map_is_the_default():
    result = smp(deployment(), {'metadata': {'labels': {'$patch': 'merge', 'tier': 'front'}}})
    assert result['metadata']['labels'] == {'app': 'web', 'tier': 'front'}


def test_smp_patch_must_be_an_object():
    with pytest.raises(PatchError, match='must be a JSON object'):
        apply_strategic_merge_patch({}, [], 'Pod')


# --- dispatch --------------------------------------------------------------------------------------------------------

def test_apply_patch_dispatches_on_content_type():
    doc = {'metadata': {'labels': {'a': '1'}}, 'spec': {'finalizers': ['x']}}
    assert apply_patch(doc, [{'op': 'remove', 'path': '/metadata/labels/a'}], 'application/json-patch+json', 'Pod')['metadata']['labels'] == {}
    assert apply_patch(doc, {'metadata': {'labels': None}}, 'application/merge-patch+json; charset=utf-8', 'Pod')['metadata'] == {}
    raw = b'{"metadata":{"finalizers":["y"]}}'
    assert apply_patch({'metadata': {'finalizers': ['x']}}, raw, 'application/strategic-merge-patch+json', 'Pod')['metadata']['finalizers'] == ['y', 'x']


def test_apply_patch_rejects_server_side_apply_and_unknown_types():
    with pytest.raises(UnsupportedPatchType, match='server-side apply'):
        apply_patch({}, 'kind: Pod', 'application/apply-patch+yaml', 'Pod')
    with pytest.raises(UnsupportedPatchType, match='unsupported media type "text/plain"'):
        apply_patch({}, {}, 'text/plain', 'Pod')
    assert issubclass(UnsupportedPatchType, PatchError)


def test_apply_patch_rejects_a_body_that_is_not_json():
    with pytest.raises(PatchError, match='not valid JSON'):
        apply_patch({}, b'{nope', 'application/merge-patch+json', 'Pod')
