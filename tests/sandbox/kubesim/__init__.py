"""kubesim: a stateful Kubernetes API simulator for the tests and the sandbox."""
