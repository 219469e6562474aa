"""Polymarket's CLOB API: the current price of a position."""
