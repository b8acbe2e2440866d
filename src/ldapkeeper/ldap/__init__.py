"""The LDAP adapter: the only code that imports python-ldap.

`LdapDirectory` implements `ldapkeeper.directory.DirectoryClient`; `NetworkPolicy` says
which internal addresses it may reach.
"""

from ldapkeeper.ldap.client import LdapDirectory
from ldapkeeper.ldap.guard import NetworkPolicy

__all__ = ["LdapDirectory", "NetworkPolicy"]
