"""The terminal UI's screens: fleet, runner, alerts, runbooks, query explorer, help."""
