"""The persistence checkpoints: when after an accept a plugin reports whether the text is still there.

The gateway accepts `persisted` events at these delays only (gateway/protocol/events.py); the A/B report
has a persistence rate per checkpoint (experiments/ab/metrics.py) and the console shows some of them.
"""

from __future__ import annotations

# Seconds after the accept (issue 4): 15 s, 30 s, 2, 5 and 10 min.
PERSISTENCE_CHECKPOINTS_S: tuple[int, ...] = (15, 30, 120, 300, 600)
# `retained_chars` counts the characters still present at this checkpoint (the longest: 10 min).
RETAINED_AFTER_S = 600
