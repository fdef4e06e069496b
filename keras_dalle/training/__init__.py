"""Training helpers: distribution, callbacks, the CLI's training loops."""
