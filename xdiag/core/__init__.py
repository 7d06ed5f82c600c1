"""What every stage shares: errors, settings, names, numbers, JSON and packed arrays."""
