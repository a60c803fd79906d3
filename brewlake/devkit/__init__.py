"""Development tools: synthetic breweries, a replay of the API, the demo. Never used at run time."""
