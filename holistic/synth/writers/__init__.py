"""Native-format writers of the synthetic sources (one function per source)."""
