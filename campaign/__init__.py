"""Distributed outbound campaign engine for the SAVG dial-out API.

Importing this package opens no connection and reads no environment: processes build their
dependencies from :func:`campaign.settings.get_settings` at their entry point.
"""

__version__ = "0.1.0"
DISTRIBUTION = "outbound-campaign-engine"
"""The name pip knows the engine by (`pip install outbound-campaign-engine[embedded]`)."""
