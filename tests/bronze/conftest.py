"""Bronze test helpers."""

from __future__ import annotations


def api_settings(settings, url, **changes):
    """Fast settings for tests: tiny backoff, a client rate limit that does not slow us down."""
    base = {
        "api_url": url,
        "api_page_size": 50,
        "api_concurrency": 4,
        "api_backoff_factor_s": 0.01,
        "api_rate_limit_per_minute": 60_000,
    }
    base.update(changes)
    return settings.replace(**base)
