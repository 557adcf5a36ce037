"""kubesim: a stateful Kubernetes API simulator for the tests and the sandbox.

    from tests.sandbox import kubesim
    target = kubesim.start(tmp_path)            # a subprocess; target.kubeconfig, target.env(), target.stop()
    admin = kubesim.KubesimAdmin.from_kubeconfig(target.kubeconfig)
    admin.config(api_fault_rate=0.2); admin.tick(); admin.reset()
"""

from .launch import KubesimAdmin, start

__all__ = ['KubesimAdmin', 'start']
