"""Text rendering of the JSON documents for a terminal (rich); the text mirrors the JSON."""
