"""Administration: user and role management, system health and the RQ dashboard (admins only),
Prometheus metrics at `/metrics`."""
