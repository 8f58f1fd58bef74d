"""A service installed with the SDK extra but not the Kafka one still imports the messaging
package and talks NATS and HTTP; asking for the Kafka client says which extra it needs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent(
    """
    import sys
    sys.modules["aiokafka"] = None  # as in an install without centralhub[kafka]
    from centralhub.sdk import BaseService
    from centralhub.sdk.messaging import NATSMessagingClient, HTTPMessagingClient
    assert NATSMessagingClient and HTTPMessagingClient and BaseService
    try:
        from centralhub.sdk.messaging import KafkaMessagingClient
    except ImportError as exc:
        print("refused:", exc)
    else:
        print("imported", KafkaMessagingClient)
    """
)


def test_messaging_imports_without_aiokafka_and_names_the_extra() -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "refused: KafkaMessagingClient needs aiokafka: install centralhub[kafka]"


def test_kafka_client_imports_where_aiokafka_is_installed() -> None:
    from centralhub.sdk.messaging import KafkaMessagingClient
    from centralhub.sdk.messaging.kafka_client import KafkaMessagingClient as direct

    assert KafkaMessagingClient is direct
