"""Leader positions and PnL from the ledgers' transfers and the leaders' fills."""
