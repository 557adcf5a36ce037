"""`make bench`: our automation against the raw commands it replaces, as ratios from one run."""
