"""The security pieces that need no server: keys, signed URLs, redaction, dial guard, limits."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voxagent.security.api_keys import ApiKeys, presented_key
from voxagent.security.dial_policy import DialPolicy
from voxagent.security.media_urls import MediaSigner
from voxagent.security.rate_limit import RateLimiter
from voxagent.security.redaction import RedactingFilter, Redactor, mask_phone, redact


def test_keys_are_found_by_digest_and_named_by_an_id() -> None:
    keys = ApiKeys.parse(" alpha-key-1 ,beta-key-2,, ")
    assert keys.configured
    first, second = keys.identify("alpha-key-1"), keys.identify("beta-key-2")
    assert first and second and first != second and len(first) == 12
    assert "alpha" not in first
    for wrong in ("", None, "alpha-key", "alpha-key-1 ", "ALPHA-KEY-1"):
        assert keys.identify(wrong) is None
    assert not ApiKeys.parse("").configured


def test_the_key_comes_from_bearer_or_x_api_key() -> None:
    assert presented_key({"authorization": "Bearer abc"}) == "abc"
    assert presented_key({"authorization": "bearer  abc "}) == "abc"
    assert presented_key({"x-api-key": "xyz"}) == "xyz"
    assert presented_key({"authorization": "Basic Zm9vOmJhcg=="}) is None
    assert presented_key({}) is None


def test_a_signed_media_url_expires_and_cannot_be_moved() -> None:
    signer = MediaSigner(b"0123456789abcdef0123", ttl_seconds=60)
    query = dict(pair.split("=") for pair in signer.query("recordings/a.wav", now=1000).split("&"))
    exp, sig = query["exp"], query["sig"]
    assert signer.valid("recordings/a.wav", exp, sig, now=1030)
    assert not signer.valid("recordings/a.wav", exp, sig, now=1061), "expired"
    assert not signer.valid("recordings/b.wav", exp, sig, now=1030), "another file"
    assert not signer.valid("recordings/a.wav", str(int(exp) + 3600), sig, now=1030), "stretched"
    assert not signer.valid("recordings/a.wav", exp, "0" * 64, now=1030), "forged"
    assert not signer.valid("recordings/a.wav", None, None, now=1030)
    assert not signer.valid("recordings/a.wav", "soon", sig, now=1030)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("calling +15551234567 now", "calling +1••••••••67 now"),
        ("from +34 612 345 678", "from +3••••••••78"),
        ("mail ana.lopez+vet@example.com please", "mail •••@example.com please"),
        ("card 4111 1111 1111 1111 ok", "card [card] ok"),
        ("turn 12 at 10:30 on 2026-11-23", "turn 12 at 10:30 on 2026-11-23"),
        ("call v3:abcd-1234 ended", "call v3:abcd-1234 ended"),
    ],
)
def test_redaction_masks_numbers_emails_and_cards(text: str, expected: str) -> None:
    assert redact(text) == expected


@given(st.from_regex(r"\+[1-9]\d{9,13}", fullmatch=True))
def test_no_full_phone_number_survives(number: str) -> None:
    masked = redact(f"dialing {number} for Ana")
    assert number not in masked and number[-2:] in masked
    assert mask_phone(number).endswith(number[-2:])


def test_the_filter_scrubs_secrets_and_numbers_from_every_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("voxagent.test-redaction")
    logger.addFilter(RedactingFilter(Redactor(["sk-ant-SECRET-123456"])))
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("key %s for %s", "sk-ant-SECRET-123456", "+15551234567")
        try:
            raise RuntimeError("bad key sk-ant-SECRET-123456")
        except RuntimeError:
            logger.exception("failed for +15551234567")
    text = caplog.text
    assert "SECRET" not in text and "+15551234567" not in text
    assert "[secret]" in text and "+1••••••••67" in text


def test_dial_policy_allows_prefixes_and_denies_ranges_inside_them() -> None:
    policy = DialPolicy.parse("+1, 34", "+1900")
    assert policy.refusal("+15551234567") is None
    assert policy.refusal("+34612345678") is None
    assert "ALLOWED_DIAL_PREFIXES" in (policy.refusal("+447911123456") or "")
    assert "DENIED_DIAL_PREFIXES" in (policy.refusal("+19005551234") or "")
    assert DialPolicy.parse("", "").refusal("+447911123456") is None
    assert DialPolicy.parse("", "+882").refusal("+88212345678") is not None


def test_rate_limit_counts_a_sliding_window_per_key() -> None:
    limiter = RateLimiter(3, window_s=60)
    assert [limiter.check("a", now=t) for t in (0, 1, 2)] == [None, None, None]
    wait = limiter.check("a", now=10)
    assert wait == pytest.approx(50)
    assert RateLimiter.retry_after(wait) == "50"
    assert limiter.check("b", now=10) is None, "keys are separate"
    assert limiter.check("a", now=60.5) is None, "the oldest hit left the window"
    assert RateLimiter(0).check("a") is None, "0 means no limit"
