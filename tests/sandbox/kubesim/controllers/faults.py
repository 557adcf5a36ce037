"""Which fault a container has (config.POD_FAULTS), and the images and ids a container runtime reports."""

from __future__ import annotations

import hashlib

from ..config import FAULT_ANNOTATION, MEMORY_LEAK_ANNOTATION, MEMORY_USAGE_ANNOTATION, POD_FAULTS
from ..quantity import QuantityError, parse_memory
from .common import Obj, container_resources
from .defaults import image_tag


def _per_container(value: str | None, container: str) -> str | None:
    """An annotation value for one container: "x" applies to all, "web=x,sidecar=y" names them."""
    if not value:
        return None
    value = value.strip()
    if '=' not in value:
        return value
    for part in value.split(','):
        name, _eq, item = part.partition('=')
        if name.strip() == container:
            return item.strip()
    return None


def annotation_for(pod: Obj, key: str, container: str) -> str | None:
    """The pod's annotation `key` as it applies to one container."""
    return _per_container(((pod.get('metadata') or {}).get('annotations') or {}).get(key), container)


def image_fault(image: str) -> str | None:
    """A fault named by a dash-separated word of the image tag: `shop:v2-crashloop` -> crashloop."""
    _repo, tag, _digest = image_tag(image or '')
    words = f'-{tag}-'
    for fault in POD_FAULTS:
        if f'-{fault}-' in words:
            return fault
    return None


def memory_usage(pod: Obj, container: str) -> float | None:
    """The container's memory use from kubesim.io/memory-usage, in bytes (None when not given or not a quantity)."""
    value = annotation_for(pod, MEMORY_USAGE_ANNOTATION, container)
    if not value:
        return None
    try:
        return parse_memory(value)
    except QuantityError:
        return None


def memory_leak(pod: Obj, container: str) -> float | None:
    """Bytes per second of uptime the container leaks (kubesim.io/memory-leak), or None."""
    value = annotation_for(pod, MEMORY_LEAK_ANNOTATION, container)
    if not value:
        return None
    try:
        return parse_memory(value)
    except QuantityError:
        return None


def leaked_memory(pod: Obj, container: str, uptime: float) -> float | None:
    """The memory of a leaking container after `uptime` seconds: kubesim.io/memory-usage (or 0) plus the leak; None without a leak."""
    rate = memory_leak(pod, container)
    if rate is None:
        return None
    return (memory_usage(pod, container) or 0.0) + rate * max(uptime, 0.0)


def leak_exhausted(pod: Obj, container: Obj, uptime: float) -> bool:
    """Whether a leaking container has, after `uptime` seconds, grown above its memory limit (then it is OOMKilled)."""
    usage = leaked_memory(pod, container.get('name', ''), uptime)
    _requests, limits = container_resources(container)
    if usage is None or not limits.get('memory'):
        return False
    try:
        return usage > parse_memory(limits['memory'])
    except QuantityError:
        return False


def container_fault(pod: Obj, container: Obj) -> str | None:
    """The container's fault: the kubesim.io/fault annotation, a fault word in its image tag, or oom when its
    kubesim.io/memory-usage is above its memory limit."""
    name = container.get('name', '')
    fault = annotation_for(pod, FAULT_ANNOTATION, name)
    if fault in POD_FAULTS:
        return fault
    fault = image_fault(str(container.get('image') or ''))
    if fault:
        return fault
    usage = memory_usage(pod, name)
    _requests, limits = container_resources(container)
    if usage is not None and limits.get('memory'):
        try:
            if usage > parse_memory(limits['memory']):
                return 'oom'
        except QuantityError:
            return None
    return None


def normalized_image(image: str) -> str:
    """The image reference containerd reports: `nginx:1.25` -> `docker.io/library/nginx:1.25`."""
    repo, tag, digest = image_tag(image)
    first = repo.split('/', 1)[0]
    if '/' not in repo:
        repo = f'docker.io/library/{repo}'
    elif '.' not in first and ':' not in first and first != 'localhost':
        repo = f'docker.io/{repo}'
    if digest:
        return f'{repo}@{digest}'
    return f'{repo}:{tag}'


def image_id(image: str) -> str:
    """A deterministic `repo@sha256:...` image ID."""
    repo, _tag, digest = image_tag(normalized_image(image))
    if digest:
        return f'{repo}@{digest}'
    return f'{repo}@sha256:{hashlib.sha256(normalized_image(image).encode()).hexdigest()}'


def container_id(pod_uid: str, container: str, attempt: int) -> str:
    """A deterministic containerd container ID for one run of a container."""
    return 'containerd://' + hashlib.sha256(f'{pod_uid}/{container}/{attempt}'.encode()).hexdigest()


def image_size(image: str) -> int:
    """A plausible, deterministic image size in bytes (for the Pulled event)."""
    return 20_000_000 + int(hashlib.sha256(image.encode()).hexdigest()[:6], 16) * 7
