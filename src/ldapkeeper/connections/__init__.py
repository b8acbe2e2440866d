"""LDAP App Connections: stored, encrypted bind credentials proven by a live bind."""
