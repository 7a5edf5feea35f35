# What an interrupted train or prune says (edge.errors.interruptible): the way back in.
RESUME_HINT = (
    "finished epochs are kept in {out}.checkpoint/; run the same command with --resume to continue"
)
