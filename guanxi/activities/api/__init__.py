"""REST API of contact and follow-up; each area has its own router (registered in guanxi/urls.py)."""
