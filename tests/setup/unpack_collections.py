"""Unpack selected collections from the `ansible` community package wheel.

Galaxy is not reachable from the machines that build and test this project,
but the `ansible` package on PyPI bundles the collections we depend on.
Usage: unpack_collections.py WHEEL DEST NAMESPACE.NAME [NAMESPACE.NAME ...]
"""

import json
import os
import sys
import zipfile


def unpack(wheel, dest, names):
    """Extract ansible_collections/<ns>/<name>/ for each name into dest; return their versions."""
    prefixes = {name: 'ansible_collections/%s/' % name.replace('.', '/') for name in names}
    with zipfile.ZipFile(wheel) as archive:
        members = [m for m in archive.namelist() if any(m.startswith(p) for p in prefixes.values())]
        archive.extractall(dest, members)
    versions = {}
    for name, prefix in prefixes.items():
        manifest = os.path.join(dest, prefix, 'MANIFEST.json')
        if not os.path.isfile(manifest):
            raise SystemExit('%s is not in %s' % (name, wheel))
        with open(manifest, encoding='utf-8') as handle:
            versions[name] = json.load(handle)['collection_info']['version']
    return versions


def main(argv):
    """Command line entry point."""
    if len(argv) < 3:
        raise SystemExit(__doc__)
    for name, version in sorted(unpack(argv[0], argv[1], argv[2:]).items()):
        sys.stdout.write('    %s %s\n' % (name, version))


if __name__ == '__main__':
    main(sys.argv[1:])
