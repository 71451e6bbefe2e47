"""Widgets the screens share: the fleet table and header, usage bars, charts, the palette."""
