"""Offline stand-in for ansible-test's pip bootstrap script (get-pip).

ansible-test bootstraps pip in the virtual environments it creates for sanity
and unit tests by downloading get-pip from a host this network cannot reach.
It caches that script as ~/.ansible/test/cache/get_pip_<version>.py and runs it
as ``python get_pip.py [pip options] pip==<version> [--no-setuptools] [--no-wheel]``.
`make setup` installs this file there: it bootstraps pip with the interpreter's
own ensurepip, then installs the requested packages from the package index.
"""

import subprocess
import sys

# get-pip's own flags, which `pip install` does not understand.
GET_PIP_ONLY_FLAGS = ('--no-setuptools', '--no-wheel')


def main(argv):
    """Install pip with ensurepip, then the requested packages with pip."""
    pip_args = [arg for arg in argv if arg not in GET_PIP_ONLY_FLAGS]
    subprocess.run([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip'], check=True, stdout=subprocess.DEVNULL)
    if pip_args:
        subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet'] + pip_args, check=True)


if __name__ == '__main__':
    main(sys.argv[1:])
