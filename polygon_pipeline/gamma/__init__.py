"""Markets: what a token id is (question, outcome, event), from Polymarket's Gamma API."""
