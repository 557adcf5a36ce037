"""kubesim's resource quantities and the small helpers the controllers share."""

from __future__ import annotations

import pytest

from tests.sandbox.kubesim import quantity
from tests.sandbox.kubesim.controllers import common, podcontrol


@pytest.mark.parametrize('text, value', [
    ('250m', 0.25), ('1', 1.0), ('1.5', 1.5), ('300Mi', 300 * 2 ** 20), ('8Gi', 8 * 2 ** 30), ('1e3', 1000.0), ('500M', 5e8),
    ('1Ki', 1024.0), ('2k', 2000.0), ('100n', 1e-7), ('1E', 1e18), ('1.5e-3', 0.0015), (2, 2.0), ('.5', 0.5), ('+1', 1.0),
])
def test_parse_quantity(text, value):
    assert quantity.parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize('text', ['', 'abc', '1Qi', '1.2.3', 'm'])
def test_parse_rejects_what_the_apiserver_rejects(text):
    if text == '':
        assert quantity.parse_quantity(text) == 0.0
        return
    with pytest.raises(quantity.QuantityError):
        quantity.parse_quantity(text)


def test_format_back():
    assert quantity.format_cpu(0.25) == '250m' and quantity.format_cpu(2) == '2' and quantity.format_cpu(0.0001) == '1m'
    assert quantity.format_memory(300 * 2 ** 20) == '300Mi' and quantity.format_memory(1.5 * 2 ** 30) == '1536Mi'
    assert quantity.format_memory(1000) == '1000' and quantity.format_memory(0) == '0'
    assert quantity.format_memory_approx(34 * 2 ** 20 + 1000) == '34Mi'
    assert quantity.millicores('0.1') == 100 and quantity.millicores('1') == 1000
    assert quantity.format_nanocores(0.0123) == '12300000n'


def test_scaled_values_round_as_intstr():
    assert common.scaled_value('25%', 10, True) == 3 and common.scaled_value('25%', 10, False) == 2
    assert common.scaled_value(2, 10, True) == 2 and common.scaled_value(None, 10, True, default='50%') == 5
    with pytest.raises(ValueError):
        common.scaled_value('abc', 10, True)


def test_safe_encode_and_durations():
    assert common.safe_encode('0123456789') == '456789bcdf'
    assert [common.go_duration(s) for s in (10, 80, 300, 3700)] == ['10s', '1m20s', '5m0s', '1h1m40s']


def test_qos_classes():
    def spec(*resources):
        return {'containers': [{'name': str(i), 'resources': r} for i, r in enumerate(resources)]}
    assert common.qos_class(spec({})) == 'BestEffort'
    assert common.qos_class(spec({'limits': {'cpu': '1', 'memory': '1Gi'}})) == 'Guaranteed'
    assert common.qos_class(spec({'requests': {'cpu': '1'}})) == 'Burstable'
    assert common.qos_class(spec({'limits': {'cpu': '1', 'memory': '1Gi'}}, {})) == 'Burstable'


def test_replica_sets_delete_unready_and_unscheduled_pods_first():
    def pod(name, node=None, phase='Running', ready=True, created='2026-01-01T00:00:00Z'):
        conditions = [{'type': 'Ready', 'status': 'True' if ready else 'False', 'lastTransitionTime': created}]
        return {'metadata': {'name': name, 'creationTimestamp': created}, 'spec': {'nodeName': node} if node else {},
                'status': {'phase': phase, 'conditions': conditions}}
    pods = [pod('old-ready', 'n1'), pod('unscheduled', phase='Pending', ready=False), pod('not-ready', 'n2', ready=False),
            pod('new-ready', 'n3', created='2026-01-02T00:00:00Z'), pod('pending', 'n4', phase='Pending', ready=False)]
    chosen = [p['metadata']['name'] for p in podcontrol.pods_to_delete(pods, pods, 4)]
    assert chosen == ['unscheduled', 'pending', 'not-ready', 'new-ready']
