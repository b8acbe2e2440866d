"""Reference expansion: Infisical's ``${KEY}`` / ``${env.path.KEY}`` syntax, cycles refused,
depth and size bounded, rotation-written values substituted verbatim."""

from __future__ import annotations

import pytest

from ldapkeeper.secrets.errors import (
    ExpandedValueTooLarge,
    SecretReferenceCycle,
    SecretReferenceTooDeep,
)
from ldapkeeper.secrets.references import (
    MAX_DEPTH,
    ReferencedSecret,
    ReferenceExpander,
    SecretAddress,
    parse_reference,
)

Store = dict[SecretAddress, ReferencedSecret]


def _store(
    values: dict[tuple[str, str, str], str], *, managed: frozenset[str] = frozenset()
) -> Store:
    return {
        SecretAddress(*where): ReferencedSecret(value, expandable=where[2] not in managed)
        for where, value in values.items()
    }


def _expand(store: Store, value: str, at: tuple[str, str, str] = ("dev", "/", "ROOT")) -> str:
    return ReferenceExpander(store.get).expand(value, origin=SecretAddress(*at))


def test_a_local_reference_names_the_same_environment_and_folder() -> None:
    assert parse_reference("KEY", environment="dev", path="/a") == SecretAddress("dev", "/a", "KEY")


def test_an_environment_reference_names_the_root_folder() -> None:
    assert parse_reference("prod.KEY", environment="dev", path="/a") == SecretAddress(
        "prod", "/", "KEY"
    )


def test_a_path_reference_names_the_folders_between_environment_and_key() -> None:
    assert parse_reference("prod.ldap.ad.KEY", environment="dev", path="/") == SecretAddress(
        "prod", "/ldap/ad", "KEY"
    )


def test_a_reference_with_an_empty_segment_is_not_one() -> None:
    assert parse_reference("prod..KEY", environment="dev", path="/") is None


def test_local_reference_is_replaced() -> None:
    store = _store({("dev", "/", "HOST"): "db.example"})
    assert _expand(store, "postgres://${HOST}:5432") == "postgres://db.example:5432"


def test_reference_to_another_environment_and_folder_is_replaced() -> None:
    store = _store({("prod", "/ldap/ad", "USER"): "svc"})
    assert _expand(store, "user=${prod.ldap.ad.USER}") == "user=svc"


def test_references_are_expanded_recursively_from_where_each_secret_lives() -> None:
    store = _store(
        {
            ("prod", "/db", "URL"): "${HOST}:${PORT}",
            ("prod", "/db", "HOST"): "db.internal",
            ("prod", "/db", "PORT"): "5432",
        }
    )
    assert _expand(store, "${prod.db.URL}") == "db.internal:5432"


def test_a_missing_reference_stays_as_written() -> None:
    assert _expand({}, "x=${NOPE}") == "x=${NOPE}"


def test_a_replacement_is_literal_text() -> None:
    store = _store({("dev", "/", "A"): r"\1 \g<0> $&"})
    assert _expand(store, "${A}") == r"\1 \g<0> $&"


def test_a_self_reference_is_a_cycle() -> None:
    store = _store({("dev", "/", "ROOT"): "${ROOT}"})
    with pytest.raises(SecretReferenceCycle):
        _expand(store, "${ROOT}")


def test_a_two_secret_cycle_is_refused_with_the_chain_in_the_message() -> None:
    store = _store({("dev", "/", "A"): "${B}", ("dev", "/", "B"): "${A}"})
    with pytest.raises(SecretReferenceCycle) as caught:
        _expand(store, "${A}")
    assert caught.value.message == "Secret reference cycle: dev:/:A -> dev:/:B -> dev:/:A"


def test_a_cycle_across_environments_is_refused() -> None:
    store = _store({("prod", "/", "A"): "${dev.ROOT}"})
    with pytest.raises(SecretReferenceCycle):
        _expand(store, "${prod.A}")


def test_a_diamond_is_not_a_cycle() -> None:
    store = _store({("dev", "/", "A"): "${C}", ("dev", "/", "B"): "${C}", ("dev", "/", "C"): "c"})
    assert _expand(store, "${A}${B}") == "cc"


def _chain(length: int) -> Store:
    values = {("dev", "/", f"K{i}"): f"${{K{i + 1}}}" for i in range(length)}
    values[("dev", "/", f"K{length}")] = "end"
    return _store(values)


def test_references_nested_up_to_the_maximum_depth_expand() -> None:
    assert _expand(_chain(MAX_DEPTH - 1), "${K0}") == "end"


def test_references_nested_deeper_than_the_maximum_are_refused() -> None:
    with pytest.raises(SecretReferenceTooDeep):
        _expand(_chain(MAX_DEPTH), "${K0}")


def test_depth_counts_from_the_secret_being_read_even_when_cached() -> None:
    store = {
        **_chain(MAX_DEPTH - 1),
        SecretAddress("dev", "/", "W"): ReferencedSecret("${K0}", expandable=True),
    }
    expander = ReferenceExpander(store.get)
    assert expander.expand("${K1}", origin=SecretAddress("dev", "/", "X")) == "end"
    with pytest.raises(SecretReferenceTooDeep):
        expander.expand("${W}", origin=SecretAddress("dev", "/", "V"))


def test_a_rotation_written_value_is_substituted_without_expansion() -> None:
    store = _store(
        {("dev", "/", "LDAP_PASSWORD"): "a${B}c", ("dev", "/", "B"): "b"},
        managed=frozenset({"LDAP_PASSWORD"}),
    )
    assert _expand(store, "pw=${LDAP_PASSWORD}") == "pw=a${B}c"


def test_an_expansion_larger_than_the_limit_is_refused() -> None:
    store = _store({("dev", "/", "BIG"): "x" * 100})
    with pytest.raises(ExpandedValueTooLarge):
        ReferenceExpander(store.get, max_length=150).expand(
            "${BIG}${BIG}", origin=SecretAddress("dev", "/", "ROOT")
        )
