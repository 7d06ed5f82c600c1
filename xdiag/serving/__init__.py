"""The readers: a profile's derived views opened and queried, HLO text, export."""
