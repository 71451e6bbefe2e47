"""Pipeline integrations: the runner health check, deployment notifications and metrics,
and automatic failover to a fallback runner pool."""
