"""The shop's shared vocabulary: categories, colours and their families, devices.

Features, segment profiles and designs all speak it; values outside it map to ``OTHER`` so an
unknown category or colour is counted, never dropped and never a crash.
"""

from __future__ import annotations

OTHER = "other"

CATEGORIES = ("apparel", "shoes", "electronics", "home", "beauty", "toys", "grocery", "sports", "books")
DEVICES = ("desktop", "mobile", "tablet", "app")

# Colour name -> sRGB hex used when a segment palette is printed.
COLOR_HEX: dict[str, str] = {
    "black": "#1d1d1b",
    "white": "#f4f2ec",
    "grey": "#8a8d8f",
    "navy": "#1f2a44",
    "blue": "#2f6db5",
    "green": "#3f8f4f",
    "olive": "#6b7a3a",
    "beige": "#d9c8a9",
    "brown": "#7a5234",
    "red": "#c8332c",
    "orange": "#e87b2a",
    "yellow": "#f2c230",
    "pink": "#e68aa8",
    "purple": "#7d4e9e",
    "gold": "#c9a227",
}
PALETTE = tuple(COLOR_HEX)

# Colour families: what an affinity for "earthy" or "warm" colours means, for features and labels.
COLOR_FAMILY: dict[str, str] = {
    "black": "dark",
    "navy": "dark",
    "white": "light",
    "grey": "light",
    "beige": "earth",
    "brown": "earth",
    "olive": "earth",
    "green": "green",
    "blue": "blue",
    "red": "warm",
    "orange": "warm",
    "yellow": "warm",
    "pink": "rose",
    "purple": "rose",
    "gold": "metallic",
}
COLOR_FAMILIES = tuple(dict.fromkeys(COLOR_FAMILY.values()))
