#!/usr/bin/env bash
# Install everything `make test`, `make demo` and `make bench` need, and reuse
# what is already there: a second run only checks and returns.
#
#   1. Debian packages: PostgreSQL 15 server, prometheus, prometheus-alertmanager,
#      kubectl, rsync, shellcheck, logrotate
#   2. a virtualenv with the pinned Python dependencies (tests/constraints.txt)
#   3. the five dependency collections, unpacked from the pinned `ansible` wheel
#      (Galaxy is not reachable from the build machines), and awx.awx for
#      playbooks/awx_configure.yml
#   4. ansible-test's pip bootstrap script, which it would otherwise download
#   5. this checkout linked as ansible_collections/sre/runbooks
#   6. pgvector for the PostgreSQL 15 test clusters, built from Debian trixie's
#      source package (Debian 12 has no binary package) and cached
set -euo pipefail

# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

ANSIBLE_BUNDLE_VERSION=12.3.0
DEPENDENCY_COLLECTIONS=(kubernetes.core community.postgresql amazon.aws community.aws community.general)
PG_BINDIR=${SRE_PG_BINDIR:-/usr/lib/postgresql/15/bin}

say() { printf '==> %s\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

# pip reads index locations from the machine's pip.conf; some of them may not
# exist, and pip then warns about each package. Keep real errors visible.
quiet_pip() { "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }

# --- 1. Debian packages ----------------------------------------------------
need() {  # need <path-or-command> <debian-package>
    if [[ $1 == /* ]]; then [[ -x $1 ]] && return 0; else command -v "$1" >/dev/null 2>&1 && return 0; fi
    missing_what+=("$1")
    [[ " ${missing_packages[*]} " == *" $2 "* ]] || missing_packages+=("$2")
}
check_packages() {
    missing_packages=() missing_what=()
    need "$PG_BINDIR/initdb" postgresql-15
    need "$PG_BINDIR/pg_basebackup" postgresql-15
    need psql postgresql-client-15
    need prometheus prometheus
    need prometheus-alertmanager prometheus-alertmanager
    need kubectl kubectl
    need rsync rsync
    need shellcheck shellcheck
    need logrotate logrotate
    need git git
    need "$PG_BINDIR/pg_config" postgresql-client-15
}
check_packages
if ((${#missing_packages[@]})); then
    # SRE_NO_INSTALL=1: only report what is missing (for machines we must not change).
    if [[ $(id -u) -ne 0 || -n ${SRE_NO_INSTALL:-} ]]; then
        die "missing ${missing_what[*]}, from the Debian packages ${missing_packages[*]}. Install them with:
    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing_packages[*]}
and run this command again (or set SRE_PG_BINDIR to where the PostgreSQL 15 server binaries are)."
    fi
    say "installing Debian packages: ${missing_packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed; check the Debian mirrors in /etc/apt/sources.list*"
    apt-get install -y -qq --no-install-recommends "${missing_packages[@]}" >/dev/null \
        || die "apt-get install ${missing_packages[*]} failed (see the output above)"
    check_packages
    if ((${#missing_packages[@]})); then
        die "still missing after apt-get install: ${missing_packages[*]} (PostgreSQL binaries are looked for in $PG_BINDIR; set SRE_PG_BINDIR if they live elsewhere)"
    fi
fi
# initdb refuses to run as root: the PostgreSQL fixtures run it as this user.
if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    die "running as root but there is no 'postgres' user to run initdb as; reinstall postgresql-15 (it creates the user)"
fi

# --- 2. virtualenv ---------------------------------------------------------
python=${SRE_PYTHON:-}
if [[ -z $python ]]; then
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            python=$candidate
            break
        fi
    done
fi
[[ -n $python ]] || die "Python 3.11 not found (tried python3.11, python3). Install it with: apt-get install python3 python3-venv, or set SRE_PYTHON"
"$python" -c 'import ensurepip, venv' 2>/dev/null \
    || die "$python cannot create virtualenvs (no ensurepip). Install it with: apt-get install python3-venv"

requirements=("$SRE_REPO/tests/requirements-dev.txt" "$SRE_REPO/tests/constraints.txt")
venv_stamp="$SRE_VENV/.sre-requirements.sha256"
wanted=$(cat "${requirements[@]}" | sha256sum | cut -d' ' -f1)
if [[ ! -x $SRE_VENV/bin/python || $(cat "$venv_stamp" 2>/dev/null) != "$wanted" ]]; then
    say "creating virtualenv $SRE_VENV"
    [[ -x $SRE_VENV/bin/python ]] || "$python" -m venv "$SRE_VENV"
    quiet_pip "$SRE_VENV/bin/python" -m pip install --quiet \
        -r "$SRE_REPO/tests/requirements-dev.txt" -c "$SRE_REPO/tests/constraints.txt" \
        || die "pip install into $SRE_VENV failed (see the output above)"
    printf '%s\n' "$wanted" >"$venv_stamp"
fi

# --- 3. dependency collections --------------------------------------------
collections_stamp="$SRE_DEPS_COLLECTIONS/.from-ansible-$ANSIBLE_BUNDLE_VERSION"
if [[ ! -f $collections_stamp ]]; then
    say "unpacking ${DEPENDENCY_COLLECTIONS[*]} from ansible==$ANSIBLE_BUNDLE_VERSION"
    wheel_dir="$SRE_RUNBOOKS_HOME/wheels"
    mkdir -p "$wheel_dir"
    quiet_pip "$SRE_VENV/bin/python" -m pip download --quiet --no-deps -d "$wheel_dir" "ansible==$ANSIBLE_BUNDLE_VERSION" \
        || die "could not download ansible==$ANSIBLE_BUNDLE_VERSION from PyPI"
    rm -rf "$SRE_DEPS_COLLECTIONS"
    "$SRE_VENV/bin/python" "$SRE_REPO/tests/setup/unpack_collections.py" \
        "$wheel_dir/ansible-$ANSIBLE_BUNDLE_VERSION-py3-none-any.whl" "$SRE_DEPS_COLLECTIONS" "${DEPENDENCY_COLLECTIONS[@]}"
    touch "$collections_stamp"
fi
# awx.awx loads the AWX/Tower definitions (playbooks/awx_configure.yml); it is
# not a run-time dependency of the collection. Unpacked next to the others with
# a stamp of its own, so adding it does not unpack (and remove) the five again.
awx_stamp="$SRE_DEPS_COLLECTIONS/.awx.awx-from-ansible-$ANSIBLE_BUNDLE_VERSION"
if [[ ! -f $awx_stamp ]]; then
    say "unpacking awx.awx from ansible==$ANSIBLE_BUNDLE_VERSION"
    wheel="$SRE_RUNBOOKS_HOME/wheels/ansible-$ANSIBLE_BUNDLE_VERSION-py3-none-any.whl"
    if [[ ! -f $wheel ]]; then
        quiet_pip "$SRE_VENV/bin/python" -m pip download --quiet --no-deps -d "$(dirname "$wheel")" "ansible==$ANSIBLE_BUNDLE_VERSION" \
            || die "could not download ansible==$ANSIBLE_BUNDLE_VERSION from PyPI"
    fi
    "$SRE_VENV/bin/python" "$SRE_REPO/tests/setup/unpack_collections.py" "$wheel" "$SRE_DEPS_COLLECTIONS" awx.awx
    touch "$awx_stamp"
fi

# --- 4. ansible-test's pip bootstrap ---------------------------------------
# ansible-test (core 2.19) asks for get-pip 24.2; keep this name in step with it.
get_pip="$HOME/.ansible/test/cache/get_pip_24_2.py"
if ! cmp -s "$SRE_REPO/tests/setup/get_pip.py" "$get_pip"; then
    mkdir -p "$(dirname "$get_pip")"
    cp "$SRE_REPO/tests/setup/get_pip.py" "$get_pip"
fi

# --- 5. this checkout as a collection ---------------------------------------
mkdir -p "$SRE_SELF_COLLECTIONS/ansible_collections/sre"
ln -sfn "$SRE_REPO" "$SRE_SELF_COLLECTIONS/ansible_collections/sre/runbooks"

# --- 6. pgvector -------------------------------------------------------------
# Debian 12 has no pgvector package. Build Debian trixie's source package against
# the installed server (postgresql-server-dev-15 pinned to postgresql-15's own
# version). The sources come through a private apt configuration that only knows
# trixie's deb-src: the system's sources stay bookworm, so nothing is ever
# installed or upgraded from trixie. The build is staged under
# $SRE_RUNBOOKS_HOME/pgvector and copied into place again on a later run without
# building; installed already, this step only looks at two files.
PGVECTOR_SUITE=trixie
pgvector_home="$SRE_RUNBOOKS_HOME/pgvector"
pg_major=$("$PG_BINDIR/pg_config" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
pgvector_stage="$pgvector_home/pg$pg_major/stage"
pgvector_files=("$("$PG_BINDIR/pg_config" --pkglibdir)/vector.so" "$("$PG_BINDIR/pg_config" --sharedir)/extension/vector.control")
pgvector_installed() { [[ -f ${pgvector_files[0]} && -f ${pgvector_files[1]} ]]; }

pgvector_build() {  # download, build and stage pgvector into $pgvector_stage
    local apt_dir="$pgvector_home/apt" src_dir="$pgvector_home/src" server_version dev_version
    server_version=$(dpkg-query -W -f='${Version}' "postgresql-$pg_major" 2>/dev/null) \
        || die "pgvector: postgresql-$pg_major is not installed as a Debian package; cannot pin postgresql-server-dev-$pg_major to it"
    dev_version=$(dpkg-query -W -f='${Version}' "postgresql-server-dev-$pg_major" 2>/dev/null || true)
    if [[ $dev_version != "$server_version" ]] || ! command -v dpkg-source >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
        say "installing postgresql-server-dev-$pg_major=$server_version (the installed server's version), dpkg-dev, make"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq || die "apt-get update failed; check the Debian mirrors in /etc/apt/sources.list*"
        apt-get install -y -qq --no-install-recommends "postgresql-server-dev-$pg_major=$server_version" dpkg-dev make gcc >/dev/null \
            || die "apt-get install postgresql-server-dev-$pg_major=$server_version failed (see the output above)"
    fi
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$src_dir"
    printf 'deb-src [signed-by=/usr/share/keyrings/debian-archive-%s-stable.gpg] http://deb.debian.org/debian %s main\n' \
        "$PGVECTOR_SUITE" "$PGVECTOR_SUITE" >"$apt_dir/sources.list"
    local apt_options=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Sandbox::User=root)
    say "downloading the pgvector source package from Debian $PGVECTOR_SUITE"
    apt-get "${apt_options[@]}" update -qq || die "pgvector: apt-get update of Debian $PGVECTOR_SUITE's sources failed"
    rm -rf "$src_dir" && mkdir -p "$src_dir"
    (cd "$src_dir" && apt-get "${apt_options[@]}" source -qq --download-only pgvector >/dev/null) \
        || die "pgvector: apt-get source pgvector from Debian $PGVECTOR_SUITE failed"
    local dsc
    dsc=$(find "$src_dir" -maxdepth 1 -name 'pgvector_*.dsc' | head -n 1)
    [[ -n $dsc ]] || die "pgvector: no .dsc downloaded into $src_dir"
    # apt checked the files against trixie's signed Release (dpkg-source, without the
    # Debian developers' keyring, would only warn that it cannot check the .dsc's
    # signature); dpkg-source applies Debian's patches (no -march=native).
    (cd "$src_dir" && dpkg-source -x "$dsc" build >"$src_dir/dpkg-source.log" 2>&1) \
        || { cat "$src_dir/dpkg-source.log" >&2; die "pgvector: dpkg-source -x $dsc failed"; }
    say "building pgvector $(basename "$dsc" .dsc | cut -d_ -f2) against PostgreSQL $("$PG_BINDIR/pg_config" --version | cut -d' ' -f2)"
    local make_options=(-C "$src_dir/build" PG_CONFIG="$PG_BINDIR/pg_config" with_llvm=no)
    make -s -j "$(nproc)" "${make_options[@]}" >/dev/null || die "pgvector: make failed in $src_dir/build"
    rm -rf "$pgvector_stage" "$pgvector_stage.tmp"
    make -s "${make_options[@]}" install DESTDIR="$pgvector_stage.tmp" >/dev/null || die "pgvector: make install into $pgvector_stage.tmp failed"
    basename "$dsc" .dsc >"$pgvector_stage.tmp/.source-package"
    mv "$pgvector_stage.tmp" "$pgvector_stage"
}

if ! pgvector_installed; then
    if [[ $(id -u) -ne 0 || -n ${SRE_NO_INSTALL:-} ]]; then
        die "pgvector is not installed for PostgreSQL $pg_major (${pgvector_files[*]} missing). Run this command as root once to build and install it"
    fi
    [[ -f $pgvector_stage/.source-package ]] || pgvector_build
    say "installing $(cat "$pgvector_stage/.source-package") for PostgreSQL $pg_major from $pgvector_stage"
    cp -R --no-preserve=ownership "$pgvector_stage/usr" / || die "pgvector: copying $pgvector_stage into / failed"
    pgvector_installed || die "pgvector: ${pgvector_files[*]} still missing after the install"
fi

say "environment ready: $SRE_VENV, collections in $SRE_DEPS_COLLECTIONS"
