"""Telnyx Ed25519 webhook signatures: every rejection reason, and sign/verify fuzzing."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxagent.channels.telnyx.signatures import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    generate_keypair,
    load_public_key,
    sign_webhook,
    verify_webhook,
)

NOW = 1_717_000_000
BODY = (
    b'{"data":{"record_type":"event","event_type":"call.initiated",'
    b'"id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0","occurred_at":"2024-05-29T16:26:40.521992Z",'
    b'"payload":{"call_control_id":"v3:T02llQxIyaRk","client_state":null}},'
    b'"meta":{"attempt":1,"delivered_to":"https://agent.example.com/webhook/telnyx"}}'
)

PRIVATE_KEY, PUBLIC_KEY = generate_keypair()


def signed(body: bytes = BODY, ts: int = NOW) -> dict[str, str]:
    return sign_webhook(body, PRIVATE_KEY, ts)


def reason(body: bytes, headers: dict[str, str], key: str = PUBLIC_KEY, now: float = NOW) -> str:
    with pytest.raises(SignatureError) as info:
        verify_webhook(body, headers, key, now=now)
    return str(info.value)


def test_good_signature_verifies() -> None:
    verify_webhook(BODY, signed(), PUBLIC_KEY, now=NOW)


def test_sign_webhook_returns_the_two_headers() -> None:
    headers = signed()
    assert set(headers) == {SIGNATURE_HEADER, TIMESTAMP_HEADER}
    assert headers[TIMESTAMP_HEADER] == str(NOW)
    assert len(base64.b64decode(headers[SIGNATURE_HEADER], validate=True)) == 64


def test_generated_public_key_is_base64_of_32_bytes() -> None:
    assert len(base64.b64decode(PUBLIC_KEY, validate=True)) == 32
    load_public_key(PUBLIC_KEY)


def test_signed_message_is_timestamp_pipe_raw_body() -> None:
    # Verify independently with the cryptography primitives.
    headers = signed()
    key = load_public_key(PUBLIC_KEY)
    key.verify(base64.b64decode(headers[SIGNATURE_HEADER]), f"{NOW}|".encode() + BODY)


@pytest.mark.parametrize(
    "transform",
    [
        str.upper,
        str.title,  # what Telnyx sends: Telnyx-Signature-Ed25519, Telnyx-Timestamp
        lambda name: name,
    ],
)
def test_header_names_are_case_insensitive(transform: Callable[[str], str]) -> None:
    headers = {transform(name): value for name, value in signed().items()}
    verify_webhook(BODY, headers, PUBLIC_KEY, now=NOW)


def test_signature_from_another_key_fails() -> None:
    other_private, _ = generate_keypair()
    headers = sign_webhook(BODY, other_private, NOW)
    assert "does not match" in reason(BODY, headers)


def test_mutated_body_fails() -> None:
    mutated = BODY.replace(b"call.initiated", b"call.answered")
    assert "does not match" in reason(mutated, signed())


def test_reserialized_body_fails() -> None:
    # Pretty-printing the same JSON changes the bytes: the raw body must be used.
    assert "does not match" in reason(BODY.replace(b",", b", "), signed())


def test_timestamp_is_part_of_the_signed_message() -> None:
    headers = signed()
    headers[TIMESTAMP_HEADER] = str(NOW + 1)
    assert "does not match" in reason(BODY, headers)


@pytest.mark.parametrize("missing", [SIGNATURE_HEADER, TIMESTAMP_HEADER])
def test_missing_header(missing: str) -> None:
    headers = signed()
    del headers[missing]
    text = reason(BODY, headers)
    assert text.startswith("missing header")
    assert missing in text


def test_both_headers_missing_names_both() -> None:
    text = reason(BODY, {})
    assert SIGNATURE_HEADER in text and TIMESTAMP_HEADER in text


def test_empty_header_counts_as_missing() -> None:
    headers = signed()
    headers[SIGNATURE_HEADER] = "  "
    assert "missing header" in reason(BODY, headers)


@pytest.mark.parametrize("ts", ["abc", "1717000000.5", "-1717000000", "+1717000000", "1_717", ""])
def test_non_integer_timestamp(ts: str) -> None:
    headers = signed()
    headers[TIMESTAMP_HEADER] = ts
    text = reason(BODY, headers)
    if ts:
        assert "not an integer" in text
    else:
        assert "missing header" in text


def test_stale_timestamp() -> None:
    headers = signed(ts=NOW - 301)
    assert "stale" in reason(BODY, headers)


def test_future_timestamp() -> None:
    headers = signed(ts=NOW + 301)
    assert "future" in reason(BODY, headers)


def test_timestamp_at_the_tolerance_edge_is_accepted() -> None:
    verify_webhook(BODY, signed(ts=NOW - 300), PUBLIC_KEY, now=NOW)
    verify_webhook(BODY, signed(ts=NOW + 300), PUBLIC_KEY, now=NOW)


def test_custom_tolerance() -> None:
    with pytest.raises(SignatureError, match="stale"):
        verify_webhook(BODY, signed(ts=NOW - 11), PUBLIC_KEY, now=NOW, tolerance_s=10)


def test_skew_is_checked_before_the_signature() -> None:
    # A replayed, perfectly signed request is still rejected once it is old.
    assert "stale" in reason(BODY, signed(ts=NOW - 3600))


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        ("not base64!!", "not valid base64"),
        (base64.b64encode(b"x" * 63).decode(), "63 bytes"),
        (base64.b64encode(b"x" * 65).decode(), "65 bytes"),
        (base64.b64encode(b"x" * 64).decode(), "does not match"),
    ],
)
def test_bad_signature_encoding(signature: str, expected: str) -> None:
    headers = signed()
    headers[SIGNATURE_HEADER] = signature
    assert expected in reason(BODY, headers)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("", "empty public key"),
        ("%%%not-base64%%%", "not valid base64"),
        (base64.b64encode(b"k" * 31).decode(), "31 bytes"),
        (base64.b64encode(b"k" * 33).decode(), "33 bytes"),
        (base64.b64encode(b"k" * 64).decode(), "64 bytes"),
    ],
)
def test_bad_public_key(key: str, expected: str) -> None:
    with pytest.raises(SignatureError) as info:
        load_public_key(key)
    assert str(info.value).startswith("TELNYX_PUBLIC_KEY: ")
    assert expected in str(info.value)
    assert expected in reason(BODY, signed(), key=key)


def test_public_key_with_surrounding_whitespace_is_accepted() -> None:
    verify_webhook(BODY, signed(), f"  {PUBLIC_KEY}\n", now=NOW)


@settings(max_examples=50, deadline=None)
@given(body=st.binary(max_size=512), ts=st.integers(min_value=0, max_value=4_000_000_000))
def test_sign_then_verify_round_trip(body: bytes, ts: int) -> None:
    verify_webhook(body, sign_webhook(body, PRIVATE_KEY, ts), PUBLIC_KEY, now=ts)


@settings(max_examples=50, deadline=None)
@given(data=st.data(), body=st.binary(min_size=1, max_size=512))
def test_flipping_any_body_byte_fails(data: st.DataObject, body: bytes) -> None:
    headers = sign_webhook(body, PRIVATE_KEY, NOW)
    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    mutated = bytearray(body)
    mutated[index] ^= 1 << bit
    with pytest.raises(SignatureError, match="does not match"):
        verify_webhook(bytes(mutated), headers, PUBLIC_KEY, now=NOW)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_flipping_any_signature_byte_fails(data: st.DataObject) -> None:
    headers = signed()
    signature = bytearray(base64.b64decode(headers[SIGNATURE_HEADER]))
    index = data.draw(st.integers(min_value=0, max_value=63))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    signature[index] ^= 1 << bit
    headers[SIGNATURE_HEADER] = base64.b64encode(bytes(signature)).decode()
    with pytest.raises(SignatureError, match="does not match"):
        verify_webhook(BODY, headers, PUBLIC_KEY, now=NOW)
