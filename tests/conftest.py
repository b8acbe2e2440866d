pytest_plugins = [
    "tests.support.database",
    "tests.support.app",
    "tests.support.certs",
    "tests.support.slapd",
    "tests.support.samba",
    "tests.support.blackhole",
]
