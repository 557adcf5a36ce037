#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: k8s_rollout_info
short_description: Read the rollout history and state of a Deployment, StatefulSet, DaemonSet or DeploymentConfig, with its pods, warnings and autoscaler
version_added: 0.1.0
description:
  - Answers the first questions of the crash-loop and bad-release runbooks in one read-only task, instead of
    C(kubectl rollout history), C(kubectl rollout status), C(kubectl get pods), C(kubectl describe pod),
    C(kubectl get events) and C(kubectl get hpa).
  - Returns the revision history with images, change-causes and creation times; the current rollout state as
    C(kubectl rollout status) judges it, failed with a reason when new pods crash-loop, cannot pull their image or are
    OOMKilled; the pods with phase, readiness, restart counts and the last termination of each container (V(OOMKilled),
    V(Error), exit codes); the latest Warning events of the workload, its ReplicaSets, ReplicationControllers or ControllerRevisions and its
    pods; and the HorizontalPodAutoscaler that targets the workload, if any.
  - For an OpenShift DeploymentConfig (C(apps.openshift.io/v1)), as C(oc rollout history) and C(oc rollout status) read it.
    the history comes from its ReplicationControllers (one per version) with their phase, the rollout state from the
    latest version's C(openshift.io/deployment.phase), and the pods are those labelled C(deploymentconfig=<name>).
  - Never changes anything; check mode behaves exactly like a normal run. Never reads Secrets.
options:
  events_limit:
    description:
      - At most this many Warning events are returned, the latest first.
      - The default is the C(head -20) the runbooks put after C(kubectl get events).
      - V(0) returns none and does not read events.
    type: int
    default: 20
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Events of pods deleted since are included when the pod's name is one the workload's controller gives its pods.
  - Module defaults for C(group/sre.runbooks.k8s) take the same authentication options as C(group/kubernetes.core.k8s).
seealso:
  - module: sre.runbooks.k8s_rollout
  - module: kubernetes.core.k8s_info
author:
  - SRE Runbooks Maintainers (@sre-runbooks)
requirements:
  - kubernetes >= 24.2.0
extends_documentation_fragment:
  - sre.runbooks.k8s_workload
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Read the state of the checkout deployment
  sre.runbooks.k8s_rollout_info:
    name: checkout
    namespace: shop
  register: checkout

- name: Say why the rollout is failing
  ansible.builtin.debug:
    msg: "{{ checkout.rollout.reason }}: {{ checkout.rollout.message }}"
  when: checkout.rollout.state == 'failed'

- name: List the containers that were OOMKilled
  ansible.builtin.debug:
    msg: "{{ item.0.name }}/{{ item.1.name }} restarted {{ item.1.restart_count }} times"
  loop: "{{ checkout.pods | subelements('containers') }}"
  when: (item.1.last_termination.reason | default('')) == 'OOMKilled'

- name: Read an OpenShift DeploymentConfig (oc rollout history and oc rollout status dc/checkout)
  sre.runbooks.k8s_rollout_info:
    kind: DeploymentConfig
    name: checkout
    namespace: shop
  register: checkout_dc

- name: List the versions that failed
  ansible.builtin.debug:
    msg: "{{ checkout_dc.history | selectattr('phase', 'equalto', 'Failed') | map(attribute='revision') | list }}"

- name: Read a StatefulSet with the last 5 warnings
  sre.runbooks.k8s_rollout_info:
    kind: StatefulSet
    name: postgres
    namespace: database
    events_limit: 5
"""

RETURN = r"""
revision:
  description: The workload's current revision; V(null) when the controller has not numbered its template yet.
  returned: success
  type: int
  sample: 3
images:
  description: Image of each container of the workload's pod template (init containers first).
  returned: success
  type: dict
  sample: {"checkout": "registry.example.com/shop/checkout:2.15.0"}
paused:
  description: Whether the Deployment or DeploymentConfig is paused (always V(false) for StatefulSets and DaemonSets).
  returned: success
  type: bool
  sample: false
replicas:
  description:
    - Replica counters, with the same names for every kind (for a DaemonSet, the desired, current, updated, ready
      and available numbers of scheduled pods).
  returned: success
  type: dict
  sample: {"desired": 3, "current": 4, "updated": 1, "ready": 3, "available": 3}
history:
  description: The revisions, oldest first, as C(kubectl rollout history) lists them.
  returned: success
  type: list
  elements: dict
  contains:
    revision:
      description: Revision number.
      type: int
      sample: 3
    former_revisions:
      description: Numbers this revision had before the Deployment went back to it.
      type: list
      elements: int
      sample: [1]
    name:
      description: Name of the ReplicaSet, ControllerRevision or (DeploymentConfig) ReplicationController.
      type: str
      sample: checkout-7c9d8f6b5d
    phase:
      description: DeploymentConfigs only. The version's C(openshift.io/deployment.phase) (V(New), V(Running), V(Complete), V(Failed)).
      type: str
      sample: Complete
    status_reason:
      description: DeploymentConfigs only. The version's C(openshift.io/deployment.status-reason), V(null) if none.
      type: str
      sample: config change
    created:
      description: When it was created.
      type: str
      sample: "2026-01-02T16:40:12Z"
    change_cause:
      description:
        - Its C(kubernetes.io/change-cause), V(null) if none.
        - For a DeploymentConfig version without one, the cause C(oc rollout history) shows (V(config change), V(manual change)).
      type: str
      sample: deploy checkout 2.15.0
    images:
      description: Image of each container.
      type: dict
      sample: {"checkout": "registry.example.com/shop/checkout:2.15.0"}
    current:
      description: Whether it is the current revision.
      type: bool
      sample: true
rollout:
  description: The state of the rollout, as C(kubectl rollout status) judges it, failing fast on broken new pods.
  returned: success
  type: dict
  contains:
    state:
      description: V(complete), V(progressing) or V(failed).
      type: str
      sample: failed
    reason:
      description:
        - When failed, V(OOMKilled), V(CrashLoopBackOff), V(ImagePullBackOff), V(ErrImagePull), V(InvalidImageName),
          V(CreateContainerConfigError), V(ProgressDeadlineExceeded), V(DeploymentPaused), V(OnDelete) or
          V(DeploymentConfigFailed) (the latest version of a DeploymentConfig is in phase C(Failed)); else V(null).
      type: str
      sample: CrashLoopBackOff
    message:
      description: What is happening, naming the failing pods and containers.
      type: str
      sample: "new pods of deployment shop/checkout are failing: pod checkout-6d4b9c7f8-x2x9z container checkout: CrashLoopBackOff
        (last exit: Error, exit code 1, 4 restarts)"
    failures:
      description: The failing containers of new pods.
      type: list
      elements: dict
      contains:
        pod:
          description: Pod name.
          type: str
        container:
          description: Container name.
          type: str
        reason:
          description: Why it fails.
          type: str
        message:
          description: The pod, the container and the details.
          type: str
        exit_code:
          description: Exit code of its last termination, V(null) if it never terminated.
          type: int
        restart_count:
          description: Restarts of the container.
          type: int
pods:
  description: The workload's pods.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Pod name.
      type: str
      sample: checkout-6d4b9c7f8-x2x9z
    phase:
      description: Pod phase (V(Pending), V(Running), V(Succeeded), V(Failed), V(Unknown)).
      type: str
      sample: Running
    ready:
      description: Whether the pod's Ready condition is true.
      type: bool
      sample: false
    node:
      description: Node the pod is scheduled on; V(null) when not scheduled.
      type: str
      sample: node-2
    revision:
      description: The revision the pod belongs to.
      type: int
      sample: 3
    created:
      description: When the pod was created.
      type: str
      sample: "2026-01-03T10:02:11Z"
    restarts:
      description: Restarts of all its containers.
      type: int
      sample: 4
    reason:
      description: The pod's status reason (V(Evicted), ...), V(null) if none.
      type: str
      sample: null
    containers:
      description: Init containers first, then containers.
      type: list
      elements: dict
      contains:
        name:
          description: Container name.
          type: str
        image:
          description: Image the container runtime reports.
          type: str
        ready:
          description: Whether the container is ready.
          type: bool
        restart_count:
          description: Restarts.
          type: int
        state:
          description: V(running), V(waiting) or V(terminated).
          type: str
        reason:
          description: Reason of the current state (V(CrashLoopBackOff), V(ImagePullBackOff), V(OOMKilled), ...).
          type: str
        exit_code:
          description: Exit code when terminated.
          type: int
        last_termination:
          description: The previous termination (reason, exit_code, started, finished), V(null) if none.
          type: dict
          sample: {"reason": "OOMKilled", "exit_code": 137, "started": "2026-01-03T10:02:14Z", "finished": "2026-01-03T10:02:15Z"}
events:
  description: The latest Warning events of the workload, its ReplicaSets, ReplicationControllers or ControllerRevisions and its pods, at most O(events_limit).
  returned: success
  type: list
  elements: dict
  contains:
    type:
      description: Always V(Warning).
      type: str
    reason:
      description: Event reason (V(BackOff), V(Failed), V(FailedScheduling), ...).
      type: str
    message:
      description: Event message.
      type: str
    object:
      description: Kind/name of the object the event is about.
      type: str
    count:
      description: How many times it happened.
      type: int
    first_timestamp:
      description: First time.
      type: str
    last_timestamp:
      description: Latest time.
      type: str
  sample:
    - type: Warning
      reason: BackOff
      message: Back-off restarting failed container checkout in pod checkout-6d4b9c7f8-x2x9z_shop(...)
      object: Pod/checkout-6d4b9c7f8-x2x9z
      count: 7
      first_timestamp: "2026-01-03T10:02:15Z"
      last_timestamp: "2026-01-03T10:05:40Z"
hpa:
  description:
    - The HorizontalPodAutoscaler (autoscaling/v2) whose scaleTargetRef is the workload; V(null) if there is none.
    - Keys name, min_replicas, max_replicas, current_replicas, desired_replicas, last_scale_time, metrics (spec),
      current_metrics (status) and conditions (type, status, reason, message).
  returned: success
  type: dict
  sample:
    name: checkout
    min_replicas: 2
    max_replicas: 10
    current_replicas: 4
    desired_replicas: 6
    last_scale_time: "2026-01-03T10:01:00Z"
    metrics: []
    current_metrics: []
    conditions: [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale", "message": "recommended size matches current size"}]
"""

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.client import K8S_REQUIRED_LIBS, get_client, k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import (
    ROLLOUT_KINDS,
    build_history,
    current_revision,
    describe,
    evaluate_rollout,
    is_paused,
    pod_revisions,
    pod_summary,
    public_history,
    read_hpa,
    read_owned,
    read_pods,
    read_warning_events,
    read_workload,
    replica_counts,
    revision_of_pod,
    template_images,
    workload_template,
)

# Runbook 000: kubectl get events -n dashflow --sort-by='.lastTimestamp' | head -20
DEFAULT_EVENTS_LIMIT = 20


def argument_spec():
    spec = k8s_argument_spec()
    spec.update(
        kind=dict(type="str", choices=list(ROLLOUT_KINDS), default="Deployment"),
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        events_limit=dict(type="int", default=DEFAULT_EVENTS_LIMIT),
    )
    return spec


def check_options(module):
    if module.params["events_limit"] < 0:
        raise RunbookError("use", "the options", "events_limit must be 0 or more, got {0}".format(module.params["events_limit"]))


def report_rollout(module, client):
    params = module.params
    kind, namespace, name = params["kind"], params["namespace"], params["name"]
    what = describe(kind, namespace, name)

    workload = read_workload(client, kind, namespace, name)
    owned = read_owned(client, kind, workload)
    pods = read_pods(client, kind, workload, owned)
    records = build_history(kind, workload, owned)
    revision = current_revision(workload, records)
    revisions = pod_revisions(kind, workload, owned, records)
    events = read_warning_events(client, kind, workload, owned, pods, params["events_limit"]) if params["events_limit"] else []

    return module.result(
        changed=False,
        revision=revision,
        images=template_images(workload_template(workload)),
        paused=is_paused(kind, workload),
        replicas=replica_counts(kind, workload),
        history=public_history(records, revision),
        rollout=evaluate_rollout(kind, workload, owned, pods, what),
        pods=[pod_summary(p, revision_of_pod(kind, p, revisions)) for p in sorted(pods, key=lambda p: p["metadata"]["name"])],
        events=events,
        hpa=read_hpa(client, kind, workload),
    )


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=K8S_REQUIRED_LIBS)
    module.run(report_rollout, connect=get_client, precheck=check_options)


if __name__ == "__main__":
    main()
