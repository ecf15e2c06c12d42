"""Reports: the leaderboard (Markdown, CSV, JSON, terminal), the HTML page with its plots, and the check
against a stored baseline."""
