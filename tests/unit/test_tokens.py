from passkey_api.kit import tokens

KEY = b"k" * 32


def test_tokens_are_long_and_random() -> None:
    values = {tokens.new_token() for _ in range(100)}
    assert len(values) == 100
    assert all(len(v) == 43 for v in values)  # 256 bits, unpadded base64url


def test_sign_and_unsign() -> None:
    token = tokens.new_token()
    assert tokens.unsign(KEY, tokens.sign(KEY, token)) == token


def test_unsign_refuses_forgeries() -> None:
    token = tokens.new_token()
    signed = tokens.sign(KEY, token)
    assert tokens.unsign(b"other-key" * 4, signed) is None
    assert tokens.unsign(KEY, token) is None
    assert tokens.unsign(KEY, signed + "A") is None
    assert tokens.unsign(KEY, "é" * len(signed)) is None
    other = tokens.new_token()
    assert tokens.unsign(KEY, other + "." + signed.split(".")[1]) is None


def test_hash_is_sha256_of_the_token() -> None:
    assert len(tokens.token_hash(tokens.new_token())) == 32
