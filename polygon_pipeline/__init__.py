"""polygon_pipeline: every Polymarket leader fill on Polygon, once, fast, provider-friendly."""

__version__ = "0.1.0"
