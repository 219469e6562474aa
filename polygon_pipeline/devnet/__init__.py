"""A local stand-in for Polygon and a paid RPC provider: anvil, exchange code, trades, emulator."""
