from accounts import keys


def test_generated_keys_are_well_formed_and_distinct():
    first, second = keys.generate_key(), keys.generate_key()
    assert first != second
    assert first.startswith("llmops_") and len(first) == keys.KEY_LENGTH
    assert keys.is_well_formed(first) and keys.is_well_formed(second)


def test_checksum_catches_a_mistyped_character():
    key = keys.generate_key()
    index = len(keys.KEY_PREFIX) + 3
    typo = key[:index] + ("a" if key[index] != "a" else "b") + key[index + 1 :]
    assert not keys.is_well_formed(typo)
    assert not keys.is_well_formed(key[:-1])
    assert not keys.is_well_formed("sk_" + key[3:])


def test_hash_is_sha256_hex_and_prefix_is_short():
    key = keys.generate_key()
    assert len(keys.hash_key(key)) == 64
    assert keys.hash_key(key) != keys.hash_key(keys.generate_key())
    assert key.startswith(keys.display_prefix(key)) and len(keys.display_prefix(key)) < len(key) // 2
