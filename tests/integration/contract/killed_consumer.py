"""Child process for the redelivery test: join a group, commit the first N records, say so on
stdout, then keep consuming WITHOUT committing until the test SIGKILLs it.

    python killed_consumer.py BOOTSTRAP TOPIC GROUP N
"""

from __future__ import annotations

import asyncio
import sys

from aiokafka import AIOKafkaConsumer


async def main(bootstrap: str, topic: str, group: str, commit_after: int) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
        max_poll_records=1,
        # The survivor's group waits this long for the killed member to be declared dead.
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    await consumer.start()
    seen = 0
    async for _ in consumer:
        seen += 1
        if seen == commit_after:
            await consumer.commit()
            print("committed", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
