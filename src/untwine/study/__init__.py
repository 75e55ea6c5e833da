"""untwine.study: studies (specs, executors, the results table) and their analyses."""
