"""ErrorDNA: categories, suggested fixes, fingerprints stable across processes, clustering."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from centralhub.kit import DiscoveryTimeout, ErrorCategory, ErrorDNA, ValidationError
from centralhub.kit.error_dna import normalize_message

HELPER = textwrap.dedent(
    """
    def fetch_order(order_id, port):
        raise ConnectionRefusedError(
            f"connect to 10.0.0.{order_id % 250}:{port} refused for order {order_id}"
        )
    """
)
DRIVER = textwrap.dedent(
    """
    import orders_client

    def run(order_id, port):
        try:
            orders_client.fetch_order(order_id, port)
        except Exception as exc:
            return exc
    """
)


def test_fingerprint_is_stable_across_processes(tmp_path: Path) -> None:
    (tmp_path / "orders_client.py").write_text(HELPER)
    (tmp_path / "orders_driver.py").write_text(DRIVER)
    sys.path.insert(0, str(tmp_path))
    try:
        import orders_driver

        local = ErrorDNA().analyze(orders_driver.run(17, 5432))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("orders_driver", None)
        sys.modules.pop("orders_client", None)
    script = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import orders_driver; "
        "from centralhub.kit import ErrorDNA; "
        "print(ErrorDNA().analyze(orders_driver.run(90210, 6543)).fingerprint)"
    )
    child = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PYTHONHASHSEED": "random", "PATH": "/usr/bin:/bin"},
        check=True,
    ).stdout.strip()
    assert local.location == ("orders_driver.py:run", "orders_client.py:fetch_order")
    assert local.category is ErrorCategory.CONNECTION_ERROR
    assert child == local.fingerprint


def test_same_code_path_same_fingerprint_across_processes(tmp_path: Path) -> None:
    script = tmp_path / "svc.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, uuid
            from centralhub.kit import ErrorDNA

            def load_user(user_id):
                raise TimeoutError(f"request {uuid.uuid4()} for user {user_id} timed out "
                                   f"after {user_id * 3}ms at 2025-10-16T10:30:00Z")

            try:
                load_user(int(sys.argv[1]))
            except Exception as exc:
                dna = ErrorDNA().analyze(exc)
                print(dna.fingerprint, dna.category.value)
            """
        )
    )
    outputs = {
        subprocess.run(
            [sys.executable, str(script), arg],
            capture_output=True,
            text=True,
            timeout=30,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            check=True,
        ).stdout.strip()
        for arg, seed in (("7", "1"), ("123456", "2"))
    }
    assert len(outputs) == 1, outputs
    fingerprint, category = outputs.pop().split()
    assert category == "TIMEOUT" and len(fingerprint) == 16


def fail_with(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


@pytest.mark.parametrize(
    ("exc", "category"),
    [
        (ConnectionRefusedError("[Errno 111] Connection refused"), ErrorCategory.CONNECTION_ERROR),
        (OSError("Connect call failed ('127.0.0.1', 6379)"), ErrorCategory.CONNECTION_ERROR),
        (TimeoutError(), ErrorCategory.TIMEOUT),
        (TimeoutError(), ErrorCategory.TIMEOUT),
        (OSError("connection timed out"), ErrorCategory.TIMEOUT),
        (DiscoveryTimeout("no answer"), ErrorCategory.TIMEOUT),
        (RuntimeError('password authentication failed for user "app"'), ErrorCategory.AUTH_ERROR),
        (RuntimeError("HTTP 401 Unauthorized"), ErrorCategory.AUTH_ERROR),
        (PermissionError("denied"), ErrorCategory.PERMISSION_ERROR),
        (ValueError("price must be positive"), ErrorCategory.VALIDATION_ERROR),
        (ValidationError("bad tick"), ErrorCategory.VALIDATION_ERROR),
        (KeyError("service"), ErrorCategory.NOT_FOUND),
        (RuntimeError("HTTP 429 Too Many Requests"), ErrorCategory.RATE_LIMIT),
        (RuntimeError("something odd"), ErrorCategory.UNKNOWN),
    ],
)
def test_categories(exc: BaseException, category: ErrorCategory) -> None:
    dna = ErrorDNA().analyze(fail_with(exc))
    assert dna.category is category
    assert dna.suggested_fix


def test_suggested_fix_names_the_server_by_port() -> None:
    dna = ErrorDNA().analyze(fail_with(ConnectionRefusedError("connect to 127.0.0.1:5432 failed")))
    assert dna.category is ErrorCategory.CONNECTION_ERROR
    assert "PostgreSQL" in dna.suggested_fix


def test_cause_is_used_when_the_wrapper_is_generic() -> None:
    try:
        try:
            raise ConnectionResetError("peer reset")
        except ConnectionResetError as inner:
            raise RuntimeError("sync failed") from inner
    except RuntimeError as exc:
        assert ErrorDNA().analyze(exc).category is ErrorCategory.CONNECTION_ERROR


def test_volatile_parts_are_normalized() -> None:
    message = (
        f"job {uuid.uuid4()} on 192.168.1.20:8080 at 2025-10-16 10:30:00.123+00:00 "
        "failed: object 0x7f3a2b1c, trace deadbeef1234, order ORD-123, attempt 3 of 10"
    )
    assert normalize_message(message) == (
        "job <uuid> on <ip> at <ts> failed: object <hex>, trace <hex>, order <id>, attempt <n> of <n>"
    )


def test_repeated_errors_cluster_with_first_and_last_seen() -> None:
    dna = ErrorDNA()

    def lookup(key: str) -> None:
        raise LookupError(f"no config for tenant-{key} (request {uuid.uuid4().hex})")

    patterns = []
    for i in range(3):
        try:
            lookup(str(i))
        except LookupError as exc:
            patterns.append(dna.analyze(exc))
    try:
        raise ValueError("different")
    except ValueError as exc:
        other = dna.analyze(exc)
    assert len({p.fingerprint for p in patterns}) == 1
    assert other.fingerprint != patterns[0].fingerprint
    assert [p.occurrences for p in patterns] == [1, 2, 3]
    top, second = dna.clusters()
    assert top.fingerprint == patterns[0].fingerprint and top.count == 3
    assert top.first_seen <= top.last_seen and second.count == 1
    assert dna.get_cluster(other.fingerprint) is not None


def test_same_message_different_place_differs() -> None:
    def a() -> None:
        raise ValueError("bad")

    def b() -> None:
        raise ValueError("bad")

    found = []
    for fn in (a, b):
        try:
            fn()
        except ValueError as exc:
            found.append(ErrorDNA().analyze(exc).fingerprint)
    assert found[0] != found[1]


def test_non_exception_is_rejected() -> None:
    with pytest.raises(TypeError, match="str"):
        ErrorDNA().analyze("oops")  # type: ignore[arg-type]
