from ldapkeeper.identity.passwords import hash_password, verify_password


def test_password_hash_is_argon2id() -> None:
    assert hash_password("s3cret-password").startswith("$argon2id$")


def test_password_hash_does_not_contain_the_password() -> None:
    assert "s3cret-password" not in hash_password("s3cret-password")


def test_same_password_hashes_differently_each_time() -> None:
    assert hash_password("s3cret-password") != hash_password("s3cret-password")


def test_matching_password_verifies() -> None:
    assert verify_password(hash_password("s3cret-password"), "s3cret-password")


def test_wrong_password_does_not_verify() -> None:
    assert not verify_password(hash_password("s3cret-password"), "s3cret-passwore")


def test_password_of_missing_account_never_verifies() -> None:
    assert not verify_password(None, "s3cret-password")
    assert not verify_password(None, "ldapkeeper-dummy-password")


def test_malformed_hash_does_not_verify() -> None:
    assert not verify_password("not-an-argon2-hash", "s3cret-password")
