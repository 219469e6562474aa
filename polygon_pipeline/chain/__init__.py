"""Pure chain logic: exchanges, the OrderFilled event, decoding. No Dagster, no SQL."""
