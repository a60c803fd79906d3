"""Gold: aggregate Delta tables computed from one pinned version of silver.breweries."""
