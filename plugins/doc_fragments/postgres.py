# -*- coding: utf-8 -*-

# Copyright: (c) 2026, SRE Runbooks Maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # PostgreSQL connection options, as accepted by
    # plugins/module_utils/postgres/connection.py postgres_argument_spec().
    DOCUMENTATION = r"""
options:
  login_user:
    description:
      - Role to log in as.
      - If not set, the E(PGUSER) environment variable of the managed host is used, then V(postgres).
    type: str
    default: postgres
  login_password:
    description:
      - Password of O(login_user).
      - If not set, the E(PGPASSWORD) environment variable of the managed host is used.
        libpq also reads C(~/.pgpass) when no password is given.
    type: str
    default: ''
  login_host:
    description:
      - Host name or IP address of the PostgreSQL server, or a directory holding its Unix socket.
      - If not set, the E(PGHOST) environment variable of the managed host is used;
        if that is unset too, libpq connects through the default Unix socket.
    type: str
    default: ''
  login_unix_socket:
    description:
      - Directory holding the server's Unix socket, used when O(login_host) is empty or V(localhost).
    type: str
    default: ''
  login_port:
    description:
      - TCP port of the PostgreSQL server.
      - If not set, the E(PGPORT) environment variable of the managed host is used, then V(5432).
    type: int
    default: 5432
    aliases: [ port ]
  login_db:
    description:
      - Database to connect to.
      - If not set, the E(PGDATABASE) environment variable of the managed host is used;
        if that is unset too, libpq uses the database named like O(login_user).
    type: str
    aliases: [ db ]
  ssl_mode:
    description:
      - Whether, and how strictly, the connection is protected by SSL.
        See U(https://www.postgresql.org/docs/current/libpq-ssl.html) for the meaning of each mode.
      - If not set, the E(PGSSLMODE) environment variable of the managed host is used, then V(prefer), the libpq default.
    type: str
    default: prefer
    choices: [ allow, disable, prefer, require, verify-ca, verify-full ]
  ca_cert:
    description:
      - File with the certificate authorities trusted to sign the server's certificate.
      - If not set, the E(PGSSLROOTCERT) environment variable of the managed host is used.
    type: path
    aliases: [ ssl_rootcert ]
  ssl_cert:
    description:
      - File with the client's SSL certificate.
      - If not set, the E(PGSSLCERT) environment variable of the managed host is used.
    type: path
  ssl_key:
    description:
      - File with the secret key of O(ssl_cert).
      - If not set, the E(PGSSLKEY) environment variable of the managed host is used.
    type: path
  connect_params:
    description:
      - Further libpq connection parameters, for example C(connect_timeout) or C(application_name).
      - They override the options above.
      - See U(https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS).
    type: dict
    default: {}
notes:
  - The option names are those of the community.postgresql collection, without the aliases it deprecates
    (C(login), C(host), C(unix_socket)).
  - Environment variables are read on the managed host, where the module runs; set them with the C(environment) keyword.
  - "If an option is given through its alias while its environment variable is also set, Ansible warns that both are set;
    the value given in the task wins."
  - The module uses C(psycopg) 3.1 or later when it is installed, otherwise C(psycopg2).
requirements:
  - psycopg2 >= 2.8 or psycopg >= 3.1
"""
