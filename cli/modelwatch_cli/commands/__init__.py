"""The verbs of the modelwatch command, one module each (registered in modelwatch_cli.main)."""
