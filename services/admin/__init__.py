"""The operator's command lines: ``authctl`` (users, keys, revocations) and ``authplane`` (the dev
stack, replay, drills)."""
