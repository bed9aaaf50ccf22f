"""Contact and follow-up (R3): interactions, follow-ups and cadence rules, care, projects, my desk."""
