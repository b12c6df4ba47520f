"""The modelwatch command line."""
