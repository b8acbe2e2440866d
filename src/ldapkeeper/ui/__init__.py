"""The web UI: server-rendered Jinja2 pages with htmx, over the same services as the API."""
