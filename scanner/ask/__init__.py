"""Questions over the store: read-only SQL, reports, diffs between scans, history."""
