"""Support shared by the tests and bench/: processes, databases and devnet helpers. Test-only
code lives here, never in the shipped package."""
