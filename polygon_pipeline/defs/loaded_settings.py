"""The settings, read once, when the definitions load (the code server, the daemon and every
run's process load them, each from its own environment), and handed down from here: to the
definitions they shape (the window size in the freshness policy, windows per backfill run,
the sensor's interval, the mini-reconciliation's cron) and to the PipelineResource that
steps, checks and sensors work with."""

from polygon_pipeline.settings import load_settings

DEFINITION_SETTINGS = load_settings()
