# Local type stubs for ldap.ldapobject (python-ldap): the methods ldapkeeper calls.
from typing import Any, TypeAlias

from ldap.controls import RequestControl

Entry: TypeAlias = tuple[str | None, Any]
Modlist: TypeAlias = list[tuple[int, str, list[bytes] | None]]

class SimpleLDAPObject:
    timeout: float
    def __init__(
        self,
        uri: str,
        trace_level: int = ...,
        trace_file: Any = ...,
        trace_stack_limit: int | None = ...,
        bytes_mode: bool | None = ...,
        bytes_strictness: bool | None = ...,
        fileno: int | None = ...,
    ) -> None: ...
    def set_option(self, option: int, invalue: Any) -> None: ...
    def get_option(self, option: int) -> Any: ...
    def simple_bind_s(
        self,
        who: str | None = ...,
        cred: str | None = ...,
        serverctrls: Any = ...,
        clientctrls: Any = ...,
    ) -> Any: ...
    def start_tls_s(self) -> None: ...
    def search_ext(
        self,
        base: str,
        scope: int,
        filterstr: str | None = ...,
        attrlist: list[str] | None = ...,
        attrsonly: int = ...,
        serverctrls: Any = ...,
        clientctrls: Any = ...,
        timeout: float = ...,
        sizelimit: int = ...,
    ) -> int: ...
    def search_ext_s(
        self,
        base: str,
        scope: int,
        filterstr: str | None = ...,
        attrlist: list[str] | None = ...,
        attrsonly: int = ...,
        serverctrls: Any = ...,
        clientctrls: Any = ...,
        timeout: float = ...,
        sizelimit: int = ...,
    ) -> list[Entry]: ...
    def search_s(
        self,
        base: str,
        scope: int,
        filterstr: str | None = ...,
        attrlist: list[str] | None = ...,
        attrsonly: int = ...,
    ) -> list[Entry]: ...
    def result(
        self, msgid: int = ..., all: int = ..., timeout: float | None = ...
    ) -> tuple[Any, Any]: ...
    def abandon(self, msgid: int) -> None: ...
    def modify_s(self, dn: str, modlist: Modlist) -> Any: ...
    def add_s(self, dn: str, modlist: list[tuple[str, list[bytes]]]) -> Any: ...
    def add_ext_s(
        self,
        dn: str,
        modlist: list[tuple[str, list[bytes]]],
        serverctrls: list[RequestControl] | None = ...,
        clientctrls: list[RequestControl] | None = ...,
    ) -> Any: ...
    def delete_s(self, dn: str) -> Any: ...
    def passwd_s(
        self,
        user: str | None,
        oldpw: str | None,
        newpw: str | None,
        serverctrls: Any = ...,
        clientctrls: Any = ...,
        extract_newpw: bool = ...,
    ) -> tuple[Any, Any]: ...
    def whoami_s(self, serverctrls: Any = ..., clientctrls: Any = ...) -> str: ...
    def unbind_ext_s(self, serverctrls: Any = ..., clientctrls: Any = ...) -> None: ...
    def unbind_s(self) -> None: ...

LDAPObject = SimpleLDAPObject
