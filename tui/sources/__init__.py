"""Data access for runnerdoc: GitHub, Prometheus, Alertmanager and Loki over HTTP (httpx).

Sources return plain `tui.model` objects and typed errors; they never import Textual.
"""
