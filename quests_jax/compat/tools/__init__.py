"""``quests.tools`` (general helpers of the reference, copied with its BSD-3 licence)."""
