"""`python -m polygon_pipeline` is the console script."""

from polygon_pipeline.cli import main

main()
