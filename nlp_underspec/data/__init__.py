"""Data the toolkit reads: shipped occupation statistics, and loaders for user-given or Hub datasets."""
