"""Use cases: reconcile a block range (every backfill in the project), and the live watcher."""
