"""The node_upgrade role's built-in upgrade (tasks/upgrade_apt.yml), which needs a Debian node with the
Kubernetes apt repository and cannot run here: its tasks are read and their arguments templated
with Ansible's own templar, as the role would template them."""

from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROLE = Path(__file__).resolve().parents[3] / 'roles' / 'node_upgrade'
TASKS = yaml.safe_load((ROLE / 'tasks' / 'upgrade_apt.yml').read_text(encoding='utf-8'))
DEFAULTS = yaml.safe_load((ROLE / 'defaults' / 'main.yml').read_text(encoding='utf-8'))


def render(value, **variables):
    context = dict(DEFAULTS, node_upgrade_node='worker-2', node_upgrade_host='worker-2.example.com', node_upgrade_version='v1.29.0')
    context.update(variables)
    templar = Templar(loader=DataLoader(), variables=context)
    if isinstance(value, str):
        return templar.template(trust_as_template(value))
    return value


def task(module):
    (found,) = [t for t in TASKS if module in t]
    return found


def test_the_order_is_unhold_install_hold_restart_each_on_the_node_host_as_root():
    assert [next(k for k in t if k.startswith('ansible.builtin.')) for t in TASKS] == [
        'ansible.builtin.dpkg_selections', 'ansible.builtin.apt', 'ansible.builtin.dpkg_selections', 'ansible.builtin.systemd_service']
    for each in TASKS:
        assert render(each['delegate_to']) == 'worker-2.example.com' and each['become'] is True
    assert [task_['ansible.builtin.dpkg_selections']['selection'] for task_ in TASKS if 'ansible.builtin.dpkg_selections' in task_] == ['install', 'hold']
    assert render(TASKS[0]['loop']) == ['kubelet', 'kubectl']
    assert task('ansible.builtin.systemd_service')['ansible.builtin.systemd_service'] == {'name': 'kubelet', 'state': 'restarted', 'daemon_reload': True}


@pytest.mark.parametrize('variables, packages', [
    ({}, ['kubelet=1.29.0-*', 'kubectl=1.29.0-*']),
    ({'node_upgrade_apt_version': '1.29.3-1.1'}, ['kubelet=1.29.3-1.1', 'kubectl=1.29.3-1.1']),
    ({'node_upgrade_apt_packages': ['kubeadm', 'kubelet'], 'node_upgrade_version': 'v1.30.1'}, ['kubeadm=1.30.1-*', 'kubelet=1.30.1-*']),
])
def test_the_packages_are_pinned_to_the_target(variables, packages):
    apt = task('ansible.builtin.apt')['ansible.builtin.apt']
    assert render(apt['name'], **variables) == packages
    assert apt['update_cache'] is True
