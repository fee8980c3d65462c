"""voxagent: real-time voice AI agents on the phone and in the browser."""

__version__ = "0.1.0"
