"""PATCH bodies, applied as kube-apiserver applies them.

* ``application/json-patch+json``: RFC 6902 operations (:func:`apply_json_patch`).
* ``application/merge-patch+json``: RFC 7386 merge patch (:func:`apply_merge_patch`).
* ``application/strategic-merge-patch+json``: the Kubernetes strategic merge patch of built-in kinds
  (:func:`apply_strategic_merge_patch`), ported from k8s.io/apimachinery/pkg/util/strategicpatch with the
  patch metadata (patchStrategy, patchMergeKey) of the Go types the simulator serves.
* ``application/apply-patch+yaml`` (server-side apply) is not simulated: :func:`apply_patch` raises
  :class:`UnsupportedPatchType`, which the server answers with 415, as it does for any other media type.

Every function is pure: the inputs are never modified and the result shares no mutable value with them.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

JSON_PATCH = 'application/json-patch+json'
MERGE_PATCH = 'application/merge-patch+json'
STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json'
APPLY_PATCH = 'application/apply-patch+yaml'
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)


class PatchError(ValueError):
    """A patch that does not apply to the document; the message says why."""


class UnsupportedPatchType(PatchError):
    """A PATCH media type the simulator does not apply (the server answers 415 Unsupported Media Type)."""


def apply_patch(doc: dict, body: Any, content_type: str, kind: str) -> dict:
    """Apply a PATCH request body to `doc` (an object of `kind`) according to its Content-Type.

    `body` is the decoded JSON, or the raw request body (bytes or str), which is decoded here.
    Media type parameters (`; charset=utf-8`) are ignored.
    """
    media_type = content_type.split(';', 1)[0].strip().lower()
    if media_type == APPLY_PATCH:
        raise UnsupportedPatchType(f'server-side apply ({APPLY_PATCH}) is not supported by the simulator: use client-side apply')
    if media_type not in PATCH_TYPES:
        raise UnsupportedPatchType(f'unsupported media type "{content_type}": the body of the request was in an unknown format - '
                                   f'accepted media types include: {", ".join(PATCH_TYPES)}')
    if isinstance(body, (bytes, bytearray, str)):
        try:
            body = json.loads(body)
        except ValueError as err:
            raise PatchError(f'the patch body is not valid JSON: {err}') from None
    if media_type == JSON_PATCH:
        return apply_json_patch(doc, body)
    if media_type == MERGE_PATCH:
        return apply_merge_patch(doc, body)
    return apply_strategic_merge_patch(doc, body, kind)


# --- RFC 6902 JSON patch ---------------------------------------------------------------------------------------------

_ARRAY_INDEX = re.compile(r'0|[1-9][0-9]*')
_JSON_PATCH_OPERATIONS = ('add', 'remove', 'replace', 'move', 'copy', 'test')


def apply_json_patch(doc: dict, ops: list) -> dict:
    """Apply RFC 6902 operations in order; the first one that does not apply raises :class:`PatchError`."""
    if not isinstance(ops, list):
        raise PatchError('a json patch must be a JSON array of operations')
    result: Any = copy.deepcopy(doc)
    for operation in ops:
        result = _apply_operation(result, operation)
    if not isinstance(result, dict):
        raise PatchError('the json patch does not leave a JSON object')
    return result


def _apply_operation(doc: Any, operation: Any) -> Any:
    """Apply one operation to `doc` (a private copy, modified in place) and return the new document."""
    if not isinstance(operation, dict):
        raise PatchError('each json patch operation must be a JSON object')
    name = operation.get('op')
    if name not in _JSON_PATCH_OPERATIONS:
        raise PatchError(f'jsonpatch: unknown operation {json.dumps(name)}: expected one of {", ".join(_JSON_PATCH_OPERATIONS)}')
    path = operation.get('path')
    tokens = _pointer(path, name, 'path')
    if name in ('add', 'replace', 'test'):
        if 'value' not in operation:
            raise PatchError(f'jsonpatch {name} operation is missing the value field')
        value = copy.deepcopy(operation['value'])
        if name == 'add':
            return _add(doc, tokens, value, name, path)
        if name == 'replace':
            return _replace(doc, tokens, value, path)
        if not _json_equal(_get(doc, tokens, name, path, 'path'), value):
            raise PatchError('jsonpatch test operation does not apply: is not equal')
        return doc
    if name == 'remove':
        _remove(doc, tokens, name, path, 'path')
        return doc
    source = operation.get('from')
    source_tokens = _pointer(source, name, 'from')
    if name == 'copy':
        return _add(doc, tokens, copy.deepcopy(_get(doc, source_tokens, name, source, 'from path')), name, path)
    if source_tokens == tokens[:len(source_tokens)] and len(tokens) > len(source_tokens):
        raise PatchError(f'jsonpatch move operation does not apply: cannot move {source} into its own child {path}')
    return _add(doc, tokens, _remove(doc, source_tokens, name, source, 'from path'), name, path)


def _pointer(pointer: Any, operation: str, field: str) -> list[str]:
    """The reference tokens of an RFC 6901 JSON pointer ("" is the whole document)."""
    if not isinstance(pointer, str):
        raise PatchError(f'jsonpatch {operation} operation is missing the {field} field')
    if pointer == '':
        return []
    if not pointer.startswith('/'):
        raise PatchError(f'jsonpatch {operation} operation does not apply: invalid JSON pointer "{pointer}" in {field}')
    # ~1 first, so that "~01" stays the literal "~1"
    return [token.replace('~1', '/').replace('~0', '~') for token in pointer[1:].split('/')]


def _missing(operation: str, pointer: str, what: str) -> PatchError:
    return PatchError(f'jsonpatch {operation} operation does not apply: doc is missing {what}: {pointer}')


def _child(container: Any, token: str) -> tuple[bool, Any]:
    """(True, value) when `container` has the member or element `token`, else (False, None)."""
    if isinstance(container, dict):
        if token in container:
            return True, container[token]
    elif isinstance(container, list) and _ARRAY_INDEX.fullmatch(token) and int(token) < len(container):
        return True, container[int(token)]
    return False, None


def _get(doc: Any, tokens: list[str], operation: str, pointer: str, what: str) -> Any:
    value = doc
    for token in tokens:
        found, value = _child(value, token)
        if not found:
            raise _missing(operation, pointer, what)
    return value


def _add(doc: Any, tokens: list[str], value: Any, operation: str, pointer: str) -> Any:
    if not tokens:
        return value
    parent = _get(doc, tokens[:-1], operation, pointer, 'path')
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == '-':
            parent.append(value)
        elif _ARRAY_INDEX.fullmatch(last) and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise PatchError(f'jsonpatch {operation} operation does not apply: index out of range: {pointer}')
    else:
        raise _missing(operation, pointer, 'path')
    return doc


def _remove(doc: Any, tokens: list[str], operation: str, pointer: str, what: str) -> Any:
    """Remove the value at `tokens` and return it."""
    if not tokens:
        raise PatchError(f'jsonpatch {operation} operation does not apply: cannot remove the whole document')
    parent = _get(doc, tokens[:-1], operation, pointer, what)
    found, value = _child(parent, tokens[-1])
    if not found:
        raise _missing(operation, pointer, what)
    if isinstance(parent, dict):
        del parent[tokens[-1]]
    else:
        del parent[int(tokens[-1])]
    return value


def _replace(doc: Any, tokens: list[str], value: Any, pointer: str) -> Any:
    if not tokens:
        return value
    parent = _get(doc, tokens[:-1], 'replace', pointer, 'path')
    found = _child(parent, tokens[-1])[0]
    if not found:
        raise _missing('replace', pointer, 'path')
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    else:
        parent[int(tokens[-1])] = value
    return doc


def _json_equal(left: Any, right: Any) -> bool:
    """JSON equality (RFC 6902 test): numbers compare by value, but a boolean is never a number."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_json_equal(value, right[key]) for key, value in left.items())
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_json_equal(left_item, right_item) for left_item, right_item in zip(left, right))
    return type(left) is type(right) and left == right


# --- RFC 7386 JSON merge patch ---------------------------------------------------------------------------------------

def apply_merge_patch(doc: dict, patch: Any) -> dict:
    """Apply an RFC 7386 merge patch: null deletes a member, objects merge recursively, anything else replaces."""
    if not isinstance(patch, dict):
        raise PatchError('a merge patch must be a JSON object')
    return _merge_into(copy.deepcopy(doc), patch)


def _merge_into(target: dict, patch: dict) -> dict:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            target[key] = _merge_into(current if isinstance(current, dict) else {}, value)
        else:
            target[key] = copy.deepcopy(value)
    return target


# --- Kubernetes strategic merge patch --------------------------------------------------------------------------------

_DIRECTIVE = '$patch'
_REPLACE = 'replace'
_DELETE = 'delete'
_MERGE = 'merge'
_RETAIN_KEYS = '$retainKeys'
_SET_ELEMENT_ORDER = '$setElementOrder'
_DELETE_FROM_PRIMITIVE_LIST = '$deleteFromPrimitiveList'


@dataclasses.dataclass(frozen=True)
class _Field:
    """The patch metadata of one field: its patchStrategy, its patchMergeKey and the schema type of its value (or items)."""

    strategy: str = ''  # 'merge', or '' for the default: maps merge, lists are atomic and replaced
    key: str = ''  # merge key of a merged list of objects ('' for a merged list of scalars)
    schema: str = ''  # name of the _SCHEMA entry describing the value, or its items for a list


def _merged(key: str = '', schema: str = '') -> _Field:
    return _Field(_MERGE, key, schema)


def _nested(schema: str) -> _Field:
    return _Field(schema=schema)


_NO_METADATA = _Field()

# The fields with patch metadata, per Go type; fields not listed have none (maps merge, lists are replaced).
# Types sharing the same metadata share one entry (all workload specs only matter for their pod template).
_SCHEMA: dict[str, dict[str, _Field]] = {
    'ObjectMeta': {'finalizers': _merged(), 'ownerReferences': _merged('uid')},
    'PodTemplateSpec': {'metadata': _nested('ObjectMeta'), 'spec': _nested('PodSpec')},
    'PodSpec': {
        'containers': _merged('name', 'Container'),
        'initContainers': _merged('name', 'Container'),
        'ephemeralContainers': _merged('name', 'Container'),
        'volumes': _merged('name'),
        'imagePullSecrets': _merged('name'),
        'hostAliases': _merged('ip'),
        'topologySpreadConstraints': _merged('topologyKey'),
        'resourceClaims': _merged('name'),
        'schedulingGates': _merged('name'),
    },
    'Container': {
        'ports': _merged('containerPort'),
        'env': _merged('name'),
        'volumeMounts': _merged('mountPath'),
        'volumeDevices': _merged('devicePath'),
    },
    'PodStatus': {'conditions': _merged('type'), 'podIPs': _merged('ip'), 'hostIPs': _merged('ip'), 'resourceClaimStatuses': _merged('name')},
    'WorkloadSpec': {'template': _nested('PodTemplateSpec')},
    'JobTemplateSpec': {'metadata': _nested('ObjectMeta'), 'spec': _nested('WorkloadSpec')},
    'CronJobSpec': {'jobTemplate': _nested('JobTemplateSpec')},
    'ServiceSpec': {'ports': _merged('port')},
    'NodeSpec': {'podCIDRs': _merged()},
    'NodeStatus': {'conditions': _merged('type'), 'addresses': _merged('type')},
    'ConditionsStatus': {'conditions': _merged('type')},
}


def _root(spec: str = '', status: str = '', **extra: _Field) -> dict[str, _Field]:
    fields = {'metadata': _nested('ObjectMeta'), **extra}
    if spec:
        fields['spec'] = _nested(spec)
    if status:
        fields['status'] = _nested(status)
    return fields


_OBJECT = _root()
_KINDS: dict[str, dict[str, _Field]] = {
    'Pod': _root('PodSpec', 'PodStatus'),
    'PodTemplate': _root(template=_nested('PodTemplateSpec')),
    'Deployment': _root('WorkloadSpec', 'ConditionsStatus'),
    'ReplicaSet': _root('WorkloadSpec', 'ConditionsStatus'),
    'StatefulSet': _root('WorkloadSpec', 'ConditionsStatus'),
    'DaemonSet': _root('WorkloadSpec', 'ConditionsStatus'),
    'ReplicationController': _root('WorkloadSpec', 'ConditionsStatus'),
    'DeploymentConfig': _root('WorkloadSpec', 'ConditionsStatus'),
    'Job': _root('WorkloadSpec', 'ConditionsStatus'),
    'CronJob': _root('CronJobSpec'),
    'Service': _root('ServiceSpec', 'ConditionsStatus'),
    'Node': _root('NodeSpec', 'NodeStatus'),
    'Namespace': _root(status='ConditionsStatus'),
    'PersistentVolumeClaim': _root(status='ConditionsStatus'),
    'PodDisruptionBudget': _root(status='ConditionsStatus'),
    'HorizontalPodAutoscaler': _root(status='ConditionsStatus'),
    'ServiceAccount': _root(secrets=_merged('name')),
}


def apply_strategic_merge_patch(doc: dict, patch: Any, kind: str) -> dict:
    """Apply a strategic merge patch to an object of the built-in `kind`, as kube-apiserver does.

    Lists with a merge strategy (containers by name, Service ports by port, finalizers as a set, ...) are merged
    item by item; other lists are replaced. null deletes a member. Directives: `$patch` (replace, delete, merge),
    `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`.

    Merged lists are ordered as the apiserver orders them: the items named in the patch (or in its
    `$setElementOrder` list) in that order, the server-only items interleaved where they were in the live list,
    and a new item that no `$setElementOrder` places before the first item of the live list.

    Two deliberate differences from the Go code, which stores what its typed decoding then drops: a value new to the
    document goes through the same merge as the rest (its nulls and directives are applied, not stored), and
    `$patch: merge` in a map is accepted as the default it documents rather than rejected.
    """
    if not isinstance(patch, dict):
        raise PatchError('a strategic merge patch must be a JSON object')
    return _merge_map(copy.deepcopy(doc), patch, _KINDS.get(kind, _OBJECT))


def _merge_map(original: dict, patch: dict, fields: Mapping[str, _Field]) -> dict:
    """Merge `patch` into `original` (a private copy, modified in place) and return the result; `patch` is read only."""
    directive = patch.get(_DIRECTIVE, _MERGE)
    if directive == _REPLACE:
        return _merge_map({}, {key: value for key, value in patch.items() if key != _DIRECTIVE}, fields)
    if directive == _DELETE:
        return {}
    if directive != _MERGE:
        raise PatchError(f'unknown patch type: {directive} in map: {_show(patch)}')
    if _RETAIN_KEYS in patch:
        _retain_keys(original, patch)
    ordered = _apply_element_orders(original, patch, fields)
    deletions = []
    for key, value in patch.items():
        if key in ordered or key in (_DIRECTIVE, _RETAIN_KEYS) or key.startswith(_SET_ELEMENT_ORDER):
            continue
        if key.startswith(_DELETE_FROM_PRIMITIVE_LIST):
            deletions.append((_directive_field(key, _DELETE_FROM_PRIMITIVE_LIST, 'primitive list'), value))
        elif key.startswith('$'):
            raise PatchError(f'unknown strategic merge patch directive "{key}" in map: {_show(patch)}')
        elif value is None:
            original.pop(key, None)
        else:
            original[key] = _merge_value(original.get(key), value, fields.get(key, _NO_METADATA))
    # Deletions last: the Go code takes the keys in (random) map order; this gives one result whatever the order.
    for name, values in deletions:
        _delete_from_primitive_list(original, name, values)
    return original


def _merge_value(original: Any, patch: Any, field: _Field) -> Any:
    """The merge of one member: a value the live document lacks (or has with another type) merges into an empty one."""
    if isinstance(patch, dict):
        return _merge_map(original if isinstance(original, dict) else {}, patch, _SCHEMA.get(field.schema, {}))
    if isinstance(patch, list):
        return _merge_list(original if isinstance(original, list) else [], patch, field)
    return patch


def _fresh(item: Any, field: _Field) -> Any:
    """A patch list item as it is stored, sharing nothing with the patch."""
    if isinstance(item, dict):
        return _merge_map({}, item, _SCHEMA.get(field.schema, {}))
    return copy.deepcopy(item)


def _merge_list(original: list, patch: list, field: _Field) -> list:
    """mergeSlice: merge a patch list into the live list according to the field's strategy."""
    if field.strategy != _MERGE:
        return [_fresh(item, field) for item in patch]
    if not original and not patch:
        return []
    if not _items_are_maps(original, patch):
        merged = _unique(original + patch)
        patch_items, server_only = _partition(merged, patch, '')
        return _normalize_order(patch_items, server_only, patch, original, '')
    key = field.key
    if not key:
        raise PatchError('cannot merge lists without merge key for type map')
    _require_merge_key(original, key)
    original, items, replace = _split_special_items(original, patch, key)
    if replace:
        return [_fresh(item, field) for item in items]
    merged = list(original)
    for item in items:
        if key not in item:
            raise PatchError(f'map: {_show(item)} does not contain declared merge key: {key}')
        index = _find(merged, key, item[key])
        if index < 0:
            merged.append(_fresh(item, field))
        else:
            merged[index] = _merge_map(merged[index], item, _SCHEMA.get(field.schema, {}))
    patch_items, server_only = _partition(merged, items, key)
    return _normalize_order(patch_items, server_only, items, original, key)


def _items_are_maps(*lists: list) -> bool:
    """Whether the items are objects; like the Go code, items of mixed types (or lists) are an error."""
    types = {type(item) for items in lists for item in items}
    if list in types:
        raise PatchError('lists of lists are not supported')
    if len(types) > 1:
        raise PatchError(f'list element types are not identical: {_show(list(lists))}')
    return dict in types


def _split_special_items(original: list, patch: list, key: str) -> tuple[list, list, bool]:
    """Apply the `$patch` items of a merged list: (the live items left, the plain patch items, whether to replace all)."""
    plain = []
    replace = False
    for item in patch:
        if _DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[_DIRECTIVE]
        if directive == _DELETE:
            if key not in item:
                raise PatchError(f'map: {_show(item)} does not contain declared merge key: {key}')
            original = [live for live in original if not _same(live[key], item[key])]
        elif directive == _REPLACE:
            replace = True
        elif directive == _MERGE:
            raise PatchError('merging lists cannot yet be specified in the patch')
        else:
            raise PatchError(f'unknown patch type: {directive} in map: {_show(item)}')
    return original, plain, replace


def _apply_element_orders(original: dict, patch: dict, fields: Mapping[str, _Field]) -> set[str]:
    """Merge and order the lists named by `$setElementOrder/<list>` directives; return the names of those lists."""
    done = set()
    for directive, order in patch.items():
        if not directive.startswith(_SET_ELEMENT_ORDER):
            continue
        name = _directive_field(directive, _SET_ELEMENT_ORDER, 'setElementOrder list')
        field = fields.get(name, _NO_METADATA)
        if not isinstance(order, list):
            raise PatchError('invalid patch format of setElementOrder list')
        for where, value in (('live object', original), ('patch', patch)):
            if name in value and not isinstance(value[name], list):
                raise PatchError(f'{directive}: the {where} value of {name} is not a list')
        live, patched = original.get(name), patch.get(name)
        _validate_element_order(patched or [], order, field.key)
        done.add(name)
        if live is None and patched is None:
            continue
        merged = _merge_list(live or [], patched or [], field) if patched is not None else live
        if field.key or not any(isinstance(item, dict) for item in merged):
            patch_items, server_only = _partition(merged, order, field.key)
            merged = _normalize_order(patch_items, server_only, order, live or [], field.key)
        original[name] = merged
    return done


def _validate_element_order(patch: list, order: list, key: str) -> None:
    """The items of the patch list must appear in the `$setElementOrder` list, in the same order."""
    if not patch or not order:
        return
    items = patch
    if key:
        if not all(isinstance(item, dict) for item in patch):
            raise PatchError(f'list items must be objects to be merged by {key}: {_show(patch)}')
        items = [item for item in patch if item.get(_DIRECTIVE) != _DELETE]
    position = 0
    for wanted in order:
        while position < len(items) and isinstance(items[position], dict) and _DIRECTIVE in items[position]:
            position += 1
        if position == len(items):
            return
        if _same(_identity(items[position], key), _identity(wanted, key)):
            position += 1
    if position < len(items):
        raise PatchError(f"the order in patch list {_show(patch)} doesn't match $setElementOrder list {_show(order)}")


def _retain_keys(original: dict, patch: dict) -> None:
    """`$retainKeys`: drop the live members not listed; every member the patch sets must be listed."""
    retained = patch[_RETAIN_KEYS]
    if not isinstance(retained, list) or not all(isinstance(key, str) for key in retained):
        raise PatchError('invalid patch format of retainKeys')
    for key, value in patch.items():
        if value is None or key in (_DIRECTIVE, _RETAIN_KEYS) or key.startswith((_SET_ELEMENT_ORDER, _DELETE_FROM_PRIMITIVE_LIST)):
            continue
        if key not in retained:
            raise PatchError('invalid patch format of retainKeys')
    for key in [key for key in original if key not in retained]:
        del original[key]


def _delete_from_primitive_list(original: dict, name: str, values: Any) -> None:
    if not isinstance(values, list):
        raise PatchError('invalid patch format of primitive list')
    live = original.get(name)
    if isinstance(live, list):
        original[name] = [item for item in live if not any(_same(item, value) for value in values)]


def _directive_field(directive: str, prefix: str, what: str) -> str:
    """The list a `<prefix>/<list>` directive names."""
    head, sep, name = directive.partition('/')
    if head != prefix or not sep:
        raise PatchError(f'invalid patch format of {what}: "{directive}"')
    return name


def _same(left: Any, right: Any) -> bool:
    """Equality of decoded JSON values as Go compares them: 1, 1.0 and true are three different values."""
    return type(left) is type(right) and left == right


def _identity(item: Any, key: str) -> Any:
    """What identifies a list item: its merge key's value, or the item itself in a list of scalars."""
    if not key:
        return item
    if not isinstance(item, dict) or key not in item:
        raise PatchError(f'map: {_show(item)} does not contain declared merge key: {key}')
    return item[key]


def _require_merge_key(items: list, key: str) -> None:
    for item in items:
        _identity(item, key)


def _find(items: list, key: str, value: Any) -> int:
    """Index of the first item whose merge key has `value`, or -1."""
    for index, item in enumerate(items):
        if key in item and _same(item[key], value):
            return index
    return -1


def _index(items: list, item: Any, key: str) -> int:
    """Index of the first of `items` with the identity of `item`, or -1."""
    wanted = item.get(key) if key else item
    for index, candidate in enumerate(items):
        if _same(candidate.get(key) if key else candidate, wanted):
            return index
    return -1


def _unique(items: list) -> list:
    result: list = []
    for item in items:
        if not any(_same(item, seen) for seen in result):
            result.append(item)
    return result


def _partition(items: list, by: list, key: str) -> tuple[list, list]:
    """Split `items` into those whose identity appears in `by` and the others (the server-only items)."""
    wanted = [_identity(item, key) for item in by]
    inside, outside = [], []
    for item in items:
        identity = _identity(item, key)
        (inside if any(_same(identity, other) for other in wanted) else outside).append(item)
    return inside, outside


def _normalize_order(patch_items: list, server_only: list, patch_order: list, server_order: list, key: str) -> list:
    """normalizeElementOrder: sort the patch items by the patch order and the server-only items by the live order,
    then interleave them: a server-only item goes before a patch item only if it came before it in the live list."""
    patch_items = sorted(patch_items, key=lambda item: _rank(patch_order, item, key))
    server_only = sorted(server_only, key=lambda item: _rank(server_order, item, key))
    result = []
    left = right = 0
    while left < len(server_only) or right < len(patch_items):
        if right == len(patch_items):
            take_left = True
        elif left == len(server_only):
            take_left = False
        else:
            live_left, live_right = _index(server_order, server_only[left], key), _index(server_order, patch_items[right], key)
            take_left = 0 <= live_left < live_right
        if take_left:
            result.append(server_only[left])
            left += 1
        else:
            result.append(patch_items[right])
            right += 1
    return result


def _rank(order: list, item: Any, key: str) -> int:
    index = _index(order, item, key)
    return index if index >= 0 else len(order)


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
