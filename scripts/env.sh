# shellcheck shell=bash
# The project's tool environment. Sourced by the Makefile, .ci/run and
# scripts/bootstrap.sh; it only computes paths and exports them.
#
# Everything installed lives under SRE_RUNBOOKS_HOME (default
# ~/.cache/sre-runbooks) so a fresh clone of the repository reuses what an
# earlier `make setup` installed.

SRE_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRE_RUNBOOKS_HOME=${SRE_RUNBOOKS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/sre-runbooks}
SRE_VENV=${SRE_VENV:-$SRE_RUNBOOKS_HOME/venv-py3.11}
# Dependency collections (kubernetes.core, community.postgresql, amazon.aws,
# community.aws, community.general), unpacked from the pinned `ansible` wheel.
SRE_DEPS_COLLECTIONS=$SRE_RUNBOOKS_HOME/collections
# This checkout, reachable as ansible_collections/sre/runbooks: one directory
# per clone, keyed by the clone's path.
SRE_SELF_COLLECTIONS=$SRE_RUNBOOKS_HOME/self/$(printf '%s' "$SRE_REPO" | sha1sum | cut -c1-12)

export SRE_REPO SRE_RUNBOOKS_HOME SRE_VENV SRE_DEPS_COLLECTIONS SRE_SELF_COLLECTIONS
export PATH="$SRE_VENV/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$SRE_SELF_COLLECTIONS:$SRE_DEPS_COLLECTIONS"
export PIP_DISABLE_PIP_VERSION_CHECK=1
