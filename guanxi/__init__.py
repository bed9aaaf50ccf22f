"""guanxi (关系): a relationship-first CRM."""

__version__ = "0.1.0"
