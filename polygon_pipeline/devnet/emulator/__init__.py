"""The provider emulator: an HTTP + WebSocket JSON-RPC proxy that throttles like a paid RPC."""
