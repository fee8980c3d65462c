"""The lines a call can arrive on: Telnyx phone calls, and (next) browsers."""
