"""API mode: the Polymarket Data API as a second source of leader trades."""
