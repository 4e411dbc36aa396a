"""Correlation: alerts become incidents by following key lineage (see `build.py`)."""

from trailhound.correlate.build import Correlation, correlate
from trailhound.correlate.incident import Incident

__all__ = ["Correlation", "Incident", "correlate"]
