"""Data: the built-in shapes dataset, its caption grammar, and loaders for users' own data."""
