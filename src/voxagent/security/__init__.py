"""Locked doors: API keys, signed media URLs, dial guards, rate limits, and logs without PII."""
