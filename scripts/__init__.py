"""Developer tools kept outside the wheel; importable from a checkout as ``scripts``."""
