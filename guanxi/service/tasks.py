"""Service jobs and periodic tasks (each area's are defined in its services module)."""
