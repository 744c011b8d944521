"""Collectors: speak gNMI, sFlow v5 and BIRD; publish typed records. They never detect."""
