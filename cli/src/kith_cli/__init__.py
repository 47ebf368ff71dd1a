"""The kith command-line tool."""
