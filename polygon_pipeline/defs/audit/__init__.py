"""The audit of closed windows by a second provider, as a check of leader_fills: each window
of a run re-read from another provider than the one that filled it (sync/audit.py)."""

from dagster import Definitions

from polygon_pipeline.defs.audit.checks import windows_agree_with_a_second_provider

definitions = Definitions(asset_checks=[windows_agree_with_a_second_provider])
