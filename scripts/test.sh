#!/usr/bin/env bash
# Run test stages in order: sanity lint changelog units integration molecule.
# Every requested stage runs; the exit status is non-zero if any failed.
# Expects the environment from scripts/env.sh (the Makefile sources it).
set -uo pipefail

cd "$SRE_REPO" || exit 1
failed=()
if [[ -n ${CI:-} ]]; then
    export NO_COLOR=1 PY_COLORS=0 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
fi

stage() { printf '\n==> %s\n' "$*"; }

# ansible-test insists on running from <root>/ansible_collections/sre/runbooks,
# so it runs on a copy of the tracked and new (not ignored) files, next to
# links to the dependency collections it imports and documents against.
run_sanity() {
    local root copy name
    # SRE_SANITY_ROOT: a separate copy, so two sanity runs do not share one tree.
    root="${SRE_SANITY_ROOT:-$SRE_RUNBOOKS_HOME/sanity/$(basename "$SRE_SELF_COLLECTIONS")}"
    copy="$root/ansible_collections/sre/runbooks"
    rm -rf "$copy" && mkdir -p "$copy"
    git ls-files -z --cached --others --exclude-standard \
        | rsync -a --from0 --files-from=- ./ "$copy/" || return 1
    for name in "$SRE_DEPS_COLLECTIONS"/ansible_collections/*/*; do
        mkdir -p "$root/ansible_collections/$(basename "$(dirname "$name")")"
        ln -sfn "$name" "$root/ansible_collections/$(basename "$(dirname "$name")")/$(basename "$name")"
    done
    # SRE_SANITY_ARGS: extra ansible-test arguments, e.g. "--test validate-modules".
    # shellcheck disable=SC2086
    (cd "$copy" && ansible-test sanity --python 3.11 --color no ${SRE_SANITY_ARGS:-})
}

run_lint() {
    # --offline: never try to install galaxy.yml's dependencies from Galaxy.
    ansible-lint --offline --profile production --nocolor
}

run_changelog() {
    antsibull-changelog lint
}

# A base temp directory of this run's own: pytest's default one is shared by
# every session of the user and pruned by each, and the engines live in it.
basetemp=$(mktemp -d -t sre-runbooks-tests.XXXXXX)
trap 'rm -rf "$basetemp"' EXIT

run_units() {
    python -m pytest -p no:cacheprovider --basetemp="$basetemp/units" tests/unit
}

run_integration() {
    python -m pytest -p no:cacheprovider --basetemp="$basetemp/integration" tests/integration
}

run_molecule() {
    # Every scenario under molecule/: check, converge, idempotence, verify.
    molecule test --all
}

for name in "$@"; do
    stage "$name"
    if ! "run_$name"; then
        failed+=("$name")
    fi
done

printf '\n'
if ((${#failed[@]})); then
    printf 'FAILED stages: %s\n' "${failed[*]}"
fi
printf 'stages: %d passed, %d failed\n' $(($# - ${#failed[@]})) ${#failed[@]}
((${#failed[@]} == 0))
