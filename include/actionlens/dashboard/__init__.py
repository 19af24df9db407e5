"""The confidence dashboard: warehouse marts → one HTML page of inline SVG charts."""
