"""The life of a call, whatever line carries it: its facts, sessions, records, registry."""
