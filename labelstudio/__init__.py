"""The Label Studio integration: the only place that talks to the Label Studio server."""
