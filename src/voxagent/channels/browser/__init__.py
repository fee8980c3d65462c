"""The browser channel: Socket.IO ``/sandra`` sessions (and, next, WebRTC audio)."""
