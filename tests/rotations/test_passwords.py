import os
import string
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ldapkeeper.rotations.passwords import (
    FORBIDDEN_SYMBOLS,
    PasswordRules,
    RandomDraw,
    generate_password,
)


def test_default_rules_give_48_characters() -> None:
    assert len(generate_password(PasswordRules())) == 48


def test_required_symbols_come_from_the_allowed_set() -> None:
    password = generate_password(PasswordRules(length=40, symbols=10, allowed_symbols="!*"))
    used = {c for c in password if not c.isalnum()}
    assert used
    assert used <= {"!", "*"}


def test_two_passwords_differ() -> None:
    assert generate_password(PasswordRules()) != generate_password(PasswordRules())


def test_forbidden_symbols_never_appear_even_if_allowed() -> None:
    password = generate_password(PasswordRules(length=200, symbols=50, allowed_symbols="${}-"))
    assert not FORBIDDEN_SYMBOLS & set(password)


rules = st.builds(
    lambda length, d, lo, up, sy: PasswordRules(
        length=max(length, d + lo + up + sy, 1), digits=d, lowercase=lo, uppercase=up, symbols=sy
    ),
    st.integers(1, 250),
    st.integers(0, 40),
    st.integers(0, 40),
    st.integers(0, 40),
    st.integers(0, 40),
).filter(lambda r: r.digits + r.lowercase + r.uppercase + r.symbols > 0)


@given(rules)
def test_generated_passwords_meet_their_requirements(r: PasswordRules) -> None:
    password = generate_password(r)
    assert len(password) == r.length
    assert sum(c in string.digits for c in password) >= r.digits
    assert sum(c in string.ascii_lowercase for c in password) >= r.lowercase
    assert sum(c in string.ascii_uppercase for c in password) >= r.uppercase
    assert sum(c in r.allowed_symbols for c in password) >= r.symbols
    allowed = set(string.ascii_letters + string.digits + r.allowed_symbols)
    assert set(password) <= allowed


def test_a_default_password_reads_the_os_random_source_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[int] = []
    read = os.urandom

    def urandom(size: int) -> bytes:
        reads.append(size)
        return read(size)

    monkeypatch.setattr(os, "urandom", urandom)
    generate_password(PasswordRules())
    assert len(reads) == 1


def test_draws_below_n_are_uniform() -> None:
    draw = RandomDraw()
    counts = Counter(draw.below(6) for _ in range(60_000))
    assert set(counts) == set(range(6))
    # Expected 10,000 each, standard deviation about 91: 600 is over six deviations.
    assert all(abs(count - 10_000) < 600 for count in counts.values())


def test_draws_below_a_bound_wider_than_a_byte_stay_in_range() -> None:
    draw = RandomDraw(16)
    values = {draw.below(300) for _ in range(20_000)}
    assert min(values) >= 0
    assert max(values) == 299
    assert len(values) == 300


def test_a_draw_below_one_is_zero() -> None:
    assert RandomDraw().below(1) == 0


def test_a_draw_below_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        RandomDraw().below(0)
