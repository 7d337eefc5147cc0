"""The state folder and what it keeps: lock, run reports, summaries, lockfiles, history, git facts."""
