"""The layer job contract and the pipeline: how a layer run is parsed, timed, tracked, reported."""
