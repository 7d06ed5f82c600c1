"""Pure analysis of profile data: arrays/bytes in, arrays/dataclasses out; no I/O."""
