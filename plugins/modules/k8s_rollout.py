#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: k8s_rollout
short_description: Roll back or restart a Deployment, StatefulSet, DaemonSet or DeploymentConfig, and wait until its rollout is healthy
version_added: 0.1.0
description:
  - Does what the runbooks do with C(kubectl rollout undo), C(kubectl rollout undo --to-revision=N),
    C(kubectl rollout restart) and C(kubectl rollout status), as one task with a declarative target,
    so that a second run reports C(changed=false).
  - O(state=rolled_back) puts back the pod template of an earlier revision, chosen by O(to_revision), by O(image),
    or, with neither, the revision before the current one (see O(state)). The revisions come from the Deployment's
    ReplicaSets or the StatefulSet's or DaemonSet's ControllerRevisions, as C(kubectl rollout history) shows them.
  - O(state=restarted) sets the pod template annotation C(kubectl.kubernetes.io/restartedAt), which replaces every pod.
  - OpenShift DeploymentConfigs (C(apps.openshift.io/v1), O(kind=DeploymentConfig)) are handled as C(oc rollout undo),
    C(oc rollout latest) and C(oc rollout status) handle them. Each version is a ReplicationController; a rollback
    puts back the pod template recorded in the target version's C(openshift.io/encoded-deployment-config) annotation
    and, as C(oc rollout undo) does by default, turns off the automatic ImageChange triggers (RV(image_triggers_disabled)),
    so that the next image pushed does not undo the rollback. O(state=restarted) deploys a new version of the current
    template through the C(instantiate) subresource (or, where that is not served, by raising C(status.latestVersion)).
    The rollout is complete when the latest version's C(openshift.io/deployment.phase) is C(Complete); a C(Failed) phase
    fails the task at once with its C(openshift.io/deployment.status-reason).
  - A paused Deployment or DeploymentConfig is refused unless O(resume=true), as it would not roll out the change.
  - With O(wait=true) the task ends when the rollout is complete, following the rules of C(kubectl rollout status).
    It fails at once, naming the pod, the container and the reason, when a new pod is OOMKilled or waits in
    C(CrashLoopBackOff), C(ImagePullBackOff), C(ErrImagePull), C(InvalidImageName) or C(CreateContainerConfigError),
    when the Deployment exceeds its progress deadline, or when the DeploymentConfig's latest version is C(Failed);
    it does not wait out O(wait_timeout). What the task changed
    is left in place (the next step is a person's decision) and the message says what that was.
  - A O(to_revision) or O(image) that no revision matches is refused before anything is changed, listing the revisions there are.
  - In check mode the patch is sent as a server-side dry run, so the API validates it and nothing changes.
  - Never reads Secrets. RV(diff) shows pod templates as C(kubectl rollout history --revision) would, except that literal env
    values whose names or values look secret (C(DB_PASSWORD), C(password=...), a URL with a password), values from Secrets
    and secret-looking command-line flags show as C(<redacted>), as in sre.runbooks.k8s_diagnostics' evidence.
options:
  state:
    description:
      - V(rolled_back) puts back the pod template of an earlier revision, as C(kubectl rollout undo) does.
        With O(to_revision), that revision. With O(image), the newest revision that runs the image.
        With neither, the revision before the current one; the module then records the revision it went back from in
        the workload's annotation C(sre.runbooks/rolled-back-from) (and the one it went to in C(sre.runbooks/rolled-back-to)),
        and a later run with neither option reports C(changed=false) as long as that rollback is still the latest change
        of the workload, that is, no rollout or restart has happened since. It rolls back again once there has been
        one, so running the task twice never goes back two revisions.
      - For a DeploymentConfig, "the revision before the current one" is the newest older version whose phase is
        C(Complete), as C(oc rollout undo) picks the last successful deployment; a version that failed or never
        finished is only gone back to when named with O(to_revision).
      - V(restarted) replaces every pod by setting the pod template annotation C(kubectl.kubernetes.io/restartedAt)
        to the current time, as C(kubectl rollout restart) does. Without O(restarted_after) every run restarts.
        For a DeploymentConfig it deploys a new version of the current template, as C(oc rollout latest) does.
    type: str
    required: true
    choices: [rolled_back, restarted]
  to_revision:
    description:
      - With O(state=rolled_back), the revision to go back to, as numbered by C(kubectl rollout history) (RV(history)).
      - When the workload goes back to a revision, the controller gives that revision a new number. The old number
        still finds it, so a second run with the same O(to_revision) reports C(changed=false).
      - Mutually exclusive with O(image).
    type: int
  image:
    description:
      - With O(state=rolled_back), go back to the newest revision in which a container (or init container) runs this image.
      - The image reference is compared as a whole string, exactly as written in the pod template,
        so V(nginx:1.25) does not match V(docker.io/library/nginx:1.25) nor an image pinned by digest.
      - If the current revision already runs it, nothing changes.
      - Mutually exclusive with O(to_revision).
    type: str
  restarted_after:
    description:
      - With O(state=restarted), restart only if the pod template's C(kubectl.kubernetes.io/restartedAt) is missing or
        earlier than this time, so a second run reports C(changed=false). For a DeploymentConfig, only if its latest
        version was created before this time. For example the time a ConfigMap or Secret the
        pods read at start-up was changed.
      - An RFC 3339 timestamp such as V(2026-01-03T10:00:00Z) or V(2026-01-03T11:00:00+01:00); without an offset it is UTC.
      - A time in the future is refused, as every run would restart.
    type: str
  resume:
    description:
      - Resume a paused Deployment or DeploymentConfig as part of the change. Without it a paused one is refused.
      - Deployments and DeploymentConfigs only; StatefulSets and DaemonSets cannot be paused.
    type: bool
    default: false
  wait:
    description:
      - Wait until the rollout is complete, as C(kubectl rollout status) does, also when nothing changed.
      - Not in check mode.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait for the rollout to complete.
      - The default is the C(--timeout=300s) the runbooks give C(kubectl rollout status).
    type: int
    default: 300
  wait_sleep:
    description: Seconds between two checks of the rollout.
    type: int
    default: 5
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - Unlike C(kubectl rollout undo), which replaces all the Deployment's annotations with those of the target ReplicaSet
    (losing annotations added since), this module keeps the Deployment's annotations. Like kubectl, it copies the target
    ReplicaSet's annotations (but C(deployment.kubernetes.io/*) and C(kubectl.kubernetes.io/last-applied-configuration)),
    so C(kubernetes.io/change-cause) is the target's; a change-cause the target does not have is removed.
  - Unlike M(kubernetes.core.k8s_rollback), which always goes back one revision and replaces the annotations, the target
    is declarative and the annotations are kept.
  - A DeploymentConfig is rolled back with a JSON patch of its template, annotations and triggers, not through the
    C(rollback) subresource, so the result is the same on every OpenShift version; unlike C(oc rollout undo), which
    goes back one version each time, the target is declarative. C(instantiate) has no server-side dry run, so in check
    mode a restart of a DeploymentConfig is only planned. A DeploymentConfig without a ConfigChange trigger gets a new
    version after a rollback too, as the rolled back template would otherwise wait for someone to deploy it.
  - Module defaults for C(group/sre.runbooks.k8s) take the same authentication options as C(group/kubernetes.core.k8s).
seealso:
  - module: sre.runbooks.k8s_rollout_info
  - module: kubernetes.core.k8s_rollback
  - name: kubectl rollout
    description: The kubectl commands this module replaces.
    link: https://kubernetes.io/docs/reference/kubectl/generated/kubectl_rollout/
  - name: oc rollout
    description: The oc commands this module replaces for DeploymentConfigs.
    link: https://docs.openshift.com/container-platform/4.14/applications/deployments/managing-deployment-processes.html
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
- name: Roll the checkout deployment back to the revision before the bad release
  sre.runbooks.k8s_rollout:
    kind: Deployment
    name: checkout
    namespace: shop
    state: rolled_back
  register: rollback

- name: Show what changed
  ansible.builtin.debug:
    msg: >-
      revision {{ rollback.from_revision }} ({{ rollback.images_before | dict2items | map(attribute='value') | join(', ') }})
      -> revision {{ rollback.to_revision }} ({{ rollback.images_after | dict2items | map(attribute='value') | join(', ') }})

- name: Go back to the last revision that ran the known good image
  sre.runbooks.k8s_rollout:
    name: checkout
    namespace: shop
    state: rolled_back
    image: registry.example.com/shop/checkout:2.14.1
    wait_timeout: 600

- name: Go back to revision 42 of a paused deployment, resuming it
  sre.runbooks.k8s_rollout:
    name: backend-deployment
    namespace: seekapa-production
    state: rolled_back
    to_revision: 42
    resume: true

- name: Restart the pods once after the database password was rotated
  sre.runbooks.k8s_rollout:
    kind: StatefulSet
    name: worker
    namespace: shop
    state: restarted
    restarted_after: "{{ rotation.rotated_at }}"

- name: Roll an OpenShift DeploymentConfig back to its last completed version (oc rollout undo dc/checkout)
  sre.runbooks.k8s_rollout:
    kind: DeploymentConfig
    name: checkout
    namespace: shop
    state: rolled_back
  register: dc_rollback

- name: Say which image triggers were turned off
  ansible.builtin.debug:
    msg: "Turn these back on with oc set triggers dc/checkout --auto once fixed: {{ dc_rollback.image_triggers_disabled }}"
  when: dc_rollback.image_triggers_disabled | length > 0

- name: Deploy a new version of a DeploymentConfig (oc rollout latest dc/worker)
  sre.runbooks.k8s_rollout:
    kind: DeploymentConfig
    name: worker
    namespace: shop
    state: restarted

- name: Roll back every Kubernetes workload of the play with one set of credentials
  module_defaults:
    group/sre.runbooks.k8s:
      kubeconfig: ~/.kube/prod
      context: prod-eu
  block:
    - name: Roll back the API
      sre.runbooks.k8s_rollout:
        name: api
        namespace: shop
        state: rolled_back
"""

RETURN = r"""
from_revision:
  description:
    - The revision the workload had before the task.
    - V(null) when the controller has not yet numbered the current template.
  returned: success
  type: int
  sample: 5
to_revision:
  description:
    - The revision rolled back to, as numbered in the history the task read before it changed anything.
    - The controller then renumbers it (RV(revision)), keeping the old number in RV(history[].former_revisions) for a Deployment.
  returned: when O(state=rolled_back)
  type: int
  sample: 4
revision:
  description:
    - The revision the workload has after the task, read back after the rollout.
    - In check mode, and with O(wait=false) before the controller has caught up, the revision before the change.
  returned: success
  type: int
  sample: 6
images_before:
  description: Image of each container (init containers first) before the task.
  returned: success
  type: dict
  sample: {"checkout": "registry.example.com/shop/checkout:2.15.0"}
images_after:
  description: Image of each container after the task (in check mode, after the dry run).
  returned: success
  type: dict
  sample: {"checkout": "registry.example.com/shop/checkout:2.14.1"}
change_cause:
  description: The C(kubernetes.io/change-cause) of the revision the workload has after the task, V(null) if it has none.
  returned: success
  type: str
  sample: deploy checkout 2.14.1
image_triggers_disabled:
  description:
    - The automatic ImageChange triggers of the DeploymentConfig the rollback turned off, as C(oc rollout undo) does
      (C(ImageStreamTag <namespace>/<name> for containers <names>)); empty when none was on or nothing changed.
    - Turn them back on with C(oc set triggers dc/<name> --auto) once a fixed image is pushed.
  returned: when O(kind=DeploymentConfig) and O(state=rolled_back)
  type: list
  elements: str
  sample: ["ImageStreamTag shop/checkout:latest for containers checkout"]
restarted_at:
  description:
    - The pod template's C(kubectl.kubernetes.io/restartedAt) after the task; V(null) if the workload has never been restarted.
    - For a DeploymentConfig, when its latest version was created.
  returned: when O(state=restarted)
  type: str
  sample: "2026-01-03T10:13:00Z"
history:
  description: The revisions, oldest first, as C(kubectl rollout history) lists them, read after the task.
  returned: success
  type: list
  elements: dict
  contains:
    revision:
      description: Revision number.
      type: int
      sample: 6
    former_revisions:
      description: Numbers this revision had before the Deployment went back to it (C(deployment.kubernetes.io/revision-history)).
      type: list
      elements: int
      sample: [4]
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
      description: When the ReplicaSet or ControllerRevision was created.
      type: str
      sample: "2026-01-02T16:40:12Z"
    change_cause:
      description:
        - Its C(kubernetes.io/change-cause) annotation, V(null) if none.
        - For a DeploymentConfig version without one, the cause C(oc rollout history) shows (V(config change), V(manual change)).
      type: str
      sample: deploy checkout 2.14.1
    images:
      description: Image of each container of its pod template.
      type: dict
      sample: {"checkout": "registry.example.com/shop/checkout:2.14.1"}
    current:
      description: Whether it is the workload's current revision.
      type: bool
      sample: true
rollout:
  description: The state of the rollout after the task (in check mode, before it), as C(kubectl rollout status) judges it.
  returned: success
  type: dict
  contains:
    state:
      description: V(complete), V(progressing) (with O(wait=false) or in check mode) or V(failed).
      type: str
      sample: complete
    reason:
      description:
        - Why it failed (V(OOMKilled), V(CrashLoopBackOff), V(ImagePullBackOff), V(ErrImagePull), V(ProgressDeadlineExceeded),
          V(DeploymentConfigFailed), ...); V(null) otherwise.
      type: str
      sample: null
    message:
      description: What C(kubectl rollout status) would print, or what failed.
      type: str
      sample: deployment shop/checkout successfully rolled out
    failures:
      description: The failing containers of new pods, with pod, container, reason, message, exit_code and restart_count.
      type: list
      elements: dict
      sample: []
actions:
  description: What the task did, or in check mode would do; empty when nothing needed to change.
  returned: success
  type: list
  elements: str
  sample:
    - roll back deployment shop/checkout from revision 5 (registry.example.com/shop/checkout:2.15.0)
      to revision 4 (registry.example.com/shop/checkout:2.14.1)
diff:
  description:
    - The workload's annotations, C(paused) and pod template (and a DeploymentConfig's triggers) before and after.
    - Secret-looking literal env values and flags in the pod template show as C(<redacted>).
  returned: when diff mode is on and the task changed (or in check mode would change) something
  type: dict
  contains:
    before:
      description: Before the task.
      type: dict
    after:
      description: After the task (in check mode, as the dry run returned it).
      type: dict
"""

from ansible_collections.sre.runbooks.plugins.module_utils.common.errors import RunbookError
from ansible_collections.sre.runbooks.plugins.module_utils.common.module import RunbookModule
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.client import K8S_REQUIRED_LIBS, get_client, k8s_argument_spec
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.redact import redact_template
from ansible_collections.sre.runbooks.plugins.module_utils.k8s.rollout import (
    DEPLOYMENT_CONFIG,
    FAILED,
    LAST_APPLIED,
    REVISION,
    ROLLOUT_KINDS,
    apply_patch,
    build_history,
    current_record,
    current_revision,
    describe,
    evaluate_rollout,
    instantiate_deploymentconfig,
    latest_version_record,
    parse_time,
    plan_restart,
    plan_rollback,
    public_history,
    read_owned,
    read_pods,
    read_status,
    read_workload,
    template_images,
    utc_now,
    wait_for_rollout,
    workload_template,
)

ROLLED_BACK = "rolled_back"
RESTARTED = "restarted"
# Runbook 004: kubectl rollout status ... --timeout=300s.
DEFAULT_WAIT_TIMEOUT = 300
# kubernetes.core's wait_sleep default.
DEFAULT_WAIT_SLEEP = 5


def argument_spec():
    spec = k8s_argument_spec()
    spec.update(
        kind=dict(type="str", choices=list(ROLLOUT_KINDS), default="Deployment"),
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        state=dict(type="str", required=True, choices=[ROLLED_BACK, RESTARTED]),
        to_revision=dict(type="int"),
        image=dict(type="str"),
        restarted_after=dict(type="str"),
        resume=dict(type="bool", default=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=DEFAULT_WAIT_TIMEOUT),
        wait_sleep=dict(type="int", default=DEFAULT_WAIT_SLEEP),
    )
    return spec


def option_problems(params, now):
    """Problems with the options, as sentences; empty when they are usable."""
    problems = []
    state = params["state"]
    if state != ROLLED_BACK:
        problems.extend("{0} applies to state=rolled_back only".format(o) for o in ("to_revision", "image") if params.get(o) is not None)
    if state != RESTARTED and params.get("restarted_after") is not None:
        problems.append("restarted_after applies to state=restarted only")
    if params.get("to_revision") is not None and params["to_revision"] < 1:
        problems.append("to_revision must be 1 or more, got {0}".format(params["to_revision"]))
    if params.get("image") is not None and not params["image"].strip():
        problems.append("image must not be empty")
    if params.get("restarted_after") is not None:
        try:
            after = parse_time(params["restarted_after"])
        except ValueError as error:
            problems.append("restarted_after: {0}".format(error))
        else:
            if after > now:
                problems.append("restarted_after {0} is in the future: every run would restart".format(params["restarted_after"]))
    if params["wait_timeout"] < 1:
        problems.append("wait_timeout must be 1 or more seconds, got {0}".format(params["wait_timeout"]))
    if params["wait_sleep"] < 1:
        problems.append("wait_sleep must be 1 or more seconds, got {0}".format(params["wait_sleep"]))
    return problems


def check_options(module):
    """Refuse unusable options before connecting."""
    problems = option_problems(module.params, utc_now())
    if problems:
        raise RunbookError("use", "the options", "; ".join(problems))


def diff_view(workload):
    """What --diff shows of the workload: annotations (without last-applied and revision), paused, pod template (redacted)."""
    metadata = workload.get("metadata") or {}
    annotations = dict((k, v) for k, v in (metadata.get("annotations") or {}).items() if k not in (LAST_APPLIED, REVISION))
    spec = workload.get("spec") or {}
    # Never a literal secret: env values whose names or values look secret, secret-looking flags (as k8s_diagnostics shows pods).
    view = {"metadata": {"annotations": annotations}, "spec": {"template": redact_template(workload_template(workload))}}
    if "paused" in spec:
        view["spec"]["paused"] = spec["paused"]
    if workload.get("kind") == DEPLOYMENT_CONFIG:
        view["spec"]["triggers"] = spec.get("triggers") or []
    return view


def make_plan(module, kind, workload, records, what):
    params = module.params
    if params["state"] == ROLLED_BACK:
        return plan_rollback(kind, workload, records, to_revision=params["to_revision"], image=params["image"],
                             resume=params["resume"], what=what)
    restarted_after = parse_time(params["restarted_after"]) if params["restarted_after"] else None
    return plan_restart(kind, workload, records, utc_now(), restarted_after=restarted_after, resume=params["resume"], what=what)


def failure_cause(plan, status, timed_out, timeout):
    """The cause of a failed or unfinished rollout, and what the task changed (it stays: the next step is a person's call)."""
    cause = status["message"]
    if timed_out:
        cause = "the rollout is not complete after {0}s: {1}".format(timeout, cause)
    if plan["changed"]:
        cause += ". Done by this task and left in place: {0}".format("; ".join(plan["actions"]))
        if plan.get("to_revision") is not None:
            cause += ". To go to another revision, run the task again with to_revision or image"
    return cause


def manage_rollout(module, client):
    params = module.params
    kind, namespace, name = params["kind"], params["namespace"], params["name"]
    what = describe(kind, namespace, name)

    workload = read_workload(client, kind, namespace, name)
    owned = read_owned(client, kind, workload)
    records = build_history(kind, workload, owned)
    plan = make_plan(module, kind, workload, records, what)

    after = workload
    if plan["changed"]:
        if plan["patch"] is not None:
            after = apply_patch(client, kind, workload, plan["patch_type"], plan["patch"],
                                "roll back" if params["state"] == ROLLED_BACK else "restart")
        # The rollout can still fail: the task reports changed=true all the same.
        module.add_report("changed", lambda: True)
        if plan.get("instantiate") and not module.check_mode:
            # oc rollout latest; the instantiate subresource has no dry run, so check mode stops at the plan.
            after = instantiate_deploymentconfig(client, after)

    if module.check_mode:
        status = evaluate_rollout(kind, workload, owned, read_pods(client, kind, workload, owned), what)
        final, final_records = workload, records
    else:
        last = {}

        def read():
            last["workload"], last["owned"], status = read_status(client, kind, namespace, name)
            return status

        if params["wait"]:
            status, timed_out = wait_for_rollout(read, params["wait_timeout"], params["wait_sleep"])
            if status["state"] == FAILED or timed_out:
                raise RunbookError("roll out", what, failure_cause(plan, status, timed_out, params["wait_timeout"]),
                                   actions=plan["actions"], from_revision=plan["from_revision"],
                                   to_revision=plan.get("to_revision"), rollout=status)
        else:
            status = read()
        final = last["workload"]
        final_records = build_history(kind, final, last["owned"])

    revision = plan["from_revision"] if module.check_mode else current_revision(final, final_records)
    record = None if module.check_mode else current_record(final, final_records)
    values = dict(
        from_revision=plan["from_revision"],
        revision=revision,
        images_before=plan["images_before"],
        images_after=template_images(workload_template(after)),
        change_cause=record["change_cause"] if record else plan["change_cause"],
        history=public_history(final_records, revision),
        rollout=status,
    )
    if params["state"] == ROLLED_BACK:
        values["to_revision"] = plan["to_revision"]
        if kind == DEPLOYMENT_CONFIG:
            values["image_triggers_disabled"] = plan["image_triggers_disabled"]
    else:
        values["restarted_at"] = plan["restarted_at"]
        if kind == DEPLOYMENT_CONFIG and not module.check_mode:
            latest = latest_version_record(final, final_records)
            values["restarted_at"] = latest["created"] if latest else plan["restarted_at"]
    before_view, after_view = (diff_view(workload), diff_view(after)) if plan["changed"] else (None, None)
    return module.result(changed=plan["changed"], actions=plan["actions"], before=before_view, after=after_view, **values)


def main():
    module = RunbookModule(argument_spec=argument_spec(), required_libs=K8S_REQUIRED_LIBS,
                           mutually_exclusive=[("to_revision", "image")])
    module.run(manage_rollout, connect=get_client, precheck=check_options)


if __name__ == "__main__":
    main()
