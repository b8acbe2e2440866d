"""Errors of the key service. Messages never carry key material."""


class KmsError(Exception):
    """Base class of key service errors."""


class RootKeyInvalid(KmsError):
    """The root key is not base64 of exactly 32 bytes."""


class DataKeyMissing(KmsError):
    """No data key exists for the scope, or none that a known root key can unwrap."""


class DecryptionFailed(KmsError):
    """A ciphertext did not open: wrong key, wrong record, or tampered."""
